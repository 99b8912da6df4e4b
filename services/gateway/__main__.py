from services.cli import main

main(["gateway", *__import__("sys").argv[1:]])
