/** The flags every dataset-reading pipeline shares, and turning them into a located, fingerprinted source. */
import type { FlagDefs } from "../engine/flags.ts"
import { fingerprintDir } from "./fingerprint.ts"
import { locateDataset } from "./locate.ts"

export const dataFlags = {
  data: {
    kind: "string",
    default: "",
    env: "LWI_DATA",
    doc: "folder holding the dataset (or a folder named after it); when given, the only place looked (an error if it lacks the files)"
  }
} as const satisfies FlagDefs

/**
 * Finds the dataset and fingerprints its files. `dataDir` ("" = not given) is authoritative: a folder without the
 * dataset is a NoDatasetInDir. Without it: ./data, system folders, then a download.
 */
export const locateSource = async (dataset: string, dataDir: string, log: (line: string) => void) => {
  const located = await locateDataset(dataset, { ...(dataDir !== "" ? { dataDir } : {}), log })
  log(`data: ${dataset} from ${located.dir} (${located.source})`)
  return { dir: located.dir, fingerprint: await fingerprintDir(located.dir) }
}
