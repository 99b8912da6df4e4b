from services.cli import main

main(["tariff-fetcher", *__import__("sys").argv[1:]])
