from lion.cli import main

main()
