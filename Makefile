# The two commands of the README, and the checks the test command runs.
.PHONY: demo test lint unit bootstrap image image-test

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

## make image: the operator image without a container engine (build/image: rootfs, OCI layout)
image: bootstrap
	scripts/build-image build/image

## make image-test: build the image, then start it read-only in a chroot against a control plane
image-test: image
	MOORING_IMAGE_DIR=build/image scripts/pytest tests/image
