# Two commands for a newcomer: `make pipeline` and `make test`. Each installs dependencies
# first when node_modules is missing or older than the lock file.

NODE_MODULES_STAMP := node_modules/.installed
PIPELINE ?= pipelines/demo.yaml
# onnxruntime-node's install script downloads CUDA libraries on Linux x64 (and fails offline), so
# package.json's allowScripts denies it: the CPU binary ships in the package. A GPU host fetches
# the CUDA provider once with `make onnxruntime-cuda`. (npm 10 ignores allowScripts: there the
# variable below keeps the script from downloading.)
ONNXRUNTIME_NODE_INSTALL ?= skip
export ONNXRUNTIME_NODE_INSTALL

.PHONY: pipeline test typecheck lint format bench clean onnxruntime-cuda

FORMATTED := 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' 'scripts/**/*.ts' 'bin/**/*.js'

$(NODE_MODULES_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

# The compiled CLI (npm ci builds it through `prepare`); rebuilt when a source file is newer, so a
# pulled change runs compiled too (bin/miro.js runs src/ through tsx while dist/ is stale).
DIST_STAMP := dist/.built
$(DIST_STAMP): $(NODE_MODULES_STAMP) $(shell find src -type f) tsconfig.json tsconfig.build.json
	npm run --silent prepare

pipeline: $(DIST_STAMP)
	node bin/miro.js run $(PIPELINE)

typecheck: $(NODE_MODULES_STAMP)
	npx tsc --noEmit -p .

# The formatter's verdict and the layer rule (imports point cli -> release -> dag -> stages ->
# components -> store -> util, no cycles); see README, "Architecture", and docs/architecture.md.
lint: $(NODE_MODULES_STAMP)
	npx prettier --check $(FORMATTED)
	node --import tsx scripts/check-layers.ts

format: $(NODE_MODULES_STAMP)
	npx prettier --write $(FORMATTED)

test: $(DIST_STAMP) typecheck lint
	node --import tsx --test --test-concurrency=2 --test-reporter=spec test/*.test.ts

bench: $(DIST_STAMP)
	@for b in bench/*.ts; do [ "$$b" = bench/util.ts ] && continue; echo "# $$b"; node --import tsx $$b || exit 1; done

onnxruntime-cuda: $(NODE_MODULES_STAMP)
	node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12

clean:
	rm -rf data bench/out dist
