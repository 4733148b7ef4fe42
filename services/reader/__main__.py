from reader.bootstrap import main

main()
