from services.cli import main

main(["simulator", *__import__("sys").argv[1:]])
