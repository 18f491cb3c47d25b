from alscare.cli import main

main()
