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
