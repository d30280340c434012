from guanxi.cli.main import run

run()
