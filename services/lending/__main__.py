from lending.bootstrap import main

main()
