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

export const DATASET_NAMES = ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagenette"] as const
export type DatasetName = (typeof DATASET_NAMES)[number]

export interface DatasetSpec {
  readonly name: DatasetName
  readonly title: string
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

const firstMatching = async (
  dir: string,
  subfolders: ReadonlyArray<string>,
  holds: (d: string) => Promise<boolean>
): Promise<string | undefined> => {
  for (const d of [dir, ...subfolders.map((s) => join(dir, s))]) if (await holds(d)) return d
  return undefined
}

const allFiles = async (dir: string, names: ReadonlyArray<string>): Promise<boolean> =>
  (await Promise.all(names.map((n) => isFile(join(dir, n))))).every(Boolean)

const holdsIdx = async (dir: string): Promise<boolean> => {
  const names = (["train", "test"] as const).flatMap((s) => Object.values(mnistFileNames(s)))
  return (await Promise.all(names.map((n) => findIdxFile(dir, n)))).every((f) => f !== undefined)
}

const holdsImageFolder = async (dir: string): Promise<boolean> =>
  (await isDirectory(join(dir, "train"))) && (await isDirectory(join(dir, "val")))

export const FASHION_MNIST_CLASS_NAMES = [
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
] as const

export const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  mnist: {
    name: "mnist",
    title: "MNIST",
    find: (dir) => firstMatching(dir, ["raw", "MNIST/raw"], holdsIdx),
    systemDirs: ["/usr/share/datasets/mnist"],
    source: SOURCES.mnist,
    howToGet: [],
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    title: "Fashion-MNIST",
    find: (dir) => firstMatching(dir, ["raw", "FashionMNIST/raw"], holdsIdx),
    systemDirs: ["/usr/share/datasets/fashion-mnist"],
    source: SOURCES["fashion-mnist"],
    howToGet: ["sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; installs /usr/share/datasets/fashion-mnist)"],
    classNames: FASHION_MNIST_CLASS_NAMES
  },
  cifar10: {
    name: "cifar10",
    title: "CIFAR-10 (binary version)",
    find: (dir) =>
      firstMatching(dir, ["cifar-10-batches-bin"], (d) => allFiles(d, [...cifar10Files("train"), ...cifar10Files("test")])),
    systemDirs: [],
    source: SOURCES.cifar10,
    howToGet: ["download and extract the binary version: tar -xzf cifar-10-binary.tar.gz (gives cifar-10-batches-bin/)"]
  },
  cifar100: {
    name: "cifar100",
    title: "CIFAR-100 (binary version)",
    find: (dir) =>
      firstMatching(dir, ["cifar-100-binary"], (d) => allFiles(d, [...cifar100Files("train"), ...cifar100Files("test")])),
    systemDirs: [],
    source: SOURCES.cifar100,
    howToGet: ["download and extract the binary version: tar -xzf cifar-100-binary.tar.gz (gives cifar-100-binary/)"]
  },
  imagenette: {
    name: "imagenette",
    title: "Imagenette (160 px)",
    find: (dir) => firstMatching(dir, ["imagenette2-160", "imagenette2-320", "imagenette2"], holdsImageFolder),
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
