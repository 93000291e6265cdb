from fundwatch.cli import main

main()
