from services.cli import main

main(["meter-reader", *__import__("sys").argv[1:]])
