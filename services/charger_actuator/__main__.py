from services.cli import main

main(["charger-actuator", *__import__("sys").argv[1:]])
