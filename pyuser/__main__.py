from pyuser.cli import main

main()
