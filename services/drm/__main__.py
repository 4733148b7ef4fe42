from drm.bootstrap import main

main()
