from cipub.cli import run

run()
