# cloudpods-operator — every target is a thin wrapper over the project's own scripts and modules.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
K8S_CACHE ?= $(HOME)/.cache/cloudpods-operator
export PATH := $(CURDIR)/$(BIN):$(PATH)
# localcluster (control plane, MariaDB, Keystone for tests, demo, bench) is not in the wheel: import it from src/.
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: help install controlplane lint unit test demo cluster-up cluster-down cluster-status bench crd clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its test tools (MariaDB and Keystone when missing)
	bash hack/mariadb/install.sh
	bash hack/keystone/install.sh >/dev/null
	bash hack/image/install.sh

controlplane: ## build (or reuse from the cache) kube-apiserver, controller-manager, scheduler, etcd, kwok, helm
	bash hack/cluster/build.sh

lint: install ## ruff, mypy --strict, import contracts (lint-imports), copy-paste (pylint duplicate-code)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy src tests $(wildcard bench)
	$(BIN)/lint-imports
	$(BIN)/pylint --disable=all --enable=duplicate-code --score=n src tests $(wildcard bench)

unit: install ## unit and property tests only (no cluster)
	$(BIN)/pytest -q tests/unit

test: install controlplane lint ## everything: lint, unit, integration on the local control plane (with coverage)
	$(BIN)/pytest -q --cov --cov-report=term --durations=15

crd: install ## regenerate crd/ and the chart's crds/ from the model
	$(BIN)/cloudpods-operator crd --write

cluster-up: install controlplane ## start the local control plane (kubeconfig in .cluster/kubeconfig)
	$(BIN)/python -m localcluster up

cluster-down: install ## stop the local control plane (and what `make demo` started against it) and remove .cluster/
	$(BIN)/python -m localcluster down

cluster-status: install ## show what runs
	$(BIN)/python -m localcluster status

demo: install controlplane ## quickstart: control plane, chart, operator, example cluster, a table
	$(BIN)/python -m localcluster.demo

bench: install controlplane ## benchmarks (prints a table, writes bench/results/latest.json)
	$(BIN)/python -m bench

clean: ## remove the venv and run directory
	rm -rf $(VENV) .cluster
