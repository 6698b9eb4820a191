/** Real Fashion-MNIST training images for benchmarks, normalized as the pipelines do (the peer reads the same files). */
import { locateDataset } from "../shared/data/locate.ts"
import { loadMnistLike } from "../shared/data/idx.ts"
import { DATASET_STATS, normalize } from "../shared/data/normalize.ts"
import { take } from "../shared/data/select.ts"
import { DATASETS } from "../shared/data/datasets.ts"

/**
 * The first `n` training samples, float32, (x − 0.286) / 0.353. `dataDir` (default: LWI_DATA, as for the pipelines)
 * is authoritative when set; otherwise ./data, then the system folder.
 */
export const fmnistTrain = async (n: number, dataDir: string | undefined = process.env.LWI_DATA || undefined) => {
  const located = await locateDataset("fashion-mnist", { ...(dataDir !== undefined ? { dataDir } : {}), download: false })
  const set = await loadMnistLike(located.dir, "train", { classes: 10, classNames: DATASETS["fashion-mnist"].classNames! })
  return { set: normalize(take(set, Uint32Array.from({ length: n }, (_, i) => i)), DATASET_STATS["fashion-mnist"]), dir: located.dir }
}

/** The flags every throughput bench on these batches shares: which images, which backend and threads, the output. */
export const throughputFlags = {
  samples: { kind: "int", default: 4096, check: "number.integer >= 1", doc: "training images cycled through" },
  backend: { kind: "string", default: "", env: "LWI_BACKEND", doc: "tfjs backend (default: auto)" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  json: { kind: "boolean", default: false, doc: "print one JSON line" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const
