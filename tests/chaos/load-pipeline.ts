/**
 * chaos-load — prepares any dataset lwi knows (prepare-dataset, through the engine) and reports its sizes. The
 * shipped pipelines read Fashion-MNIST and Imagenette only; this one lets the chaos harness feed CIFAR (and any other
 * loader) bad files through the same CLI path: flags, runner, store, error printing, exit codes.
 *
 *   bun run tests/chaos/load-pipeline.ts --dataset cifar10 --data DIR [--cache C] [--out O]
 */
import { Effect } from "effect"
import { backendFlags, setupBackend } from "../../shared/backend/setup.ts"
import { DATASET_NAMES } from "../../shared/data/datasets.ts"
import { dataFlags, locateSource } from "../../shared/data/flags.ts"
import { runMain } from "../../shared/engine/main.ts"
import { definePipeline, step } from "../../shared/engine/pipeline.ts"
import { Reporter } from "../../shared/engine/reporter.ts"
import { attempt } from "../../shared/errors.ts"
import { prepareDataset } from "../../steps/prepare-dataset.ts"

export const chaosLoad = definePipeline({
  name: "chaos-load",
  description: "prepare one dataset (any loader) and report its sizes",
  flags: {
    ...backendFlags,
    ...dataFlags,
    dataset: { kind: "enum", values: [...DATASET_NAMES], default: "cifar10", doc: "dataset to prepare" }
  },
  setup: setupBackend,
  run: (config) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const source = yield* attempt(() => locateSource(config.dataset, config.data, reporter.line))
      const data = yield* step(prepareDataset, {
        dataset: config.dataset as (typeof DATASET_NAMES)[number],
        source,
        rgb: false,
        normalization: "none",
        seed: config.seed
      })
      return { train: data.train.n, test: data.test.n }
    })
})

if (import.meta.main) runMain(chaosLoad)
