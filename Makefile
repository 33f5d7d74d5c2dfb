# The two commands of the README, and the checks the test command runs.
.PHONY: demo test lint unit bootstrap

bootstrap:
	@scripts/bootstrap

## make demo: the local control plane and the whole platform on the example tenants
demo: bootstrap
	.venv/bin/mooring demo

## make test: static checks (ruff, mypy --strict, import-linter) and every test
test: bootstrap lint
	@scripts/pytest

lint:
	.venv/bin/ruff check src tests benchmarks tools
	.venv/bin/ruff format --check src tests benchmarks tools
	.venv/bin/mypy
	.venv/bin/lint-imports
