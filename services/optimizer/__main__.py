from services.cli import main

main(["optimizer", *__import__("sys").argv[1:]])
