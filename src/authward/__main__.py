from authward.cli.main import main

main()
