/** A small Imagenette-layout image folder a test writes itself: each class its own colour, JPEGs of mixed sizes. */
import * as path from "node:path"
import sharp from "sharp"
import { write } from "../data/fixtures.ts"

export const writeImageFolder = async (dir: string, opts: { classes: number; train: number; val: number }) => {
  const classes = ["n01440764", "n02102040", "n03000684", "n03028079", "n03394916"].slice(0, opts.classes)
  for (const [c, cls] of classes.entries()) {
    for (const [split, n] of [["train", opts.train], ["val", opts.val]] as const) {
      for (let i = 0; i < n; i++) {
        const background = { r: 60 + 60 * c, g: 200 - 50 * c, b: (37 * i) % 255 }
        const jpeg = await sharp({ create: { width: 40 + (i % 3) * 8, height: 32 + (i % 2) * 10, channels: 3, background } }).jpeg().toBuffer()
        await write(path.join(dir, split, cls, `${split}_${i}.JPEG`), jpeg)
      }
    }
  }
  return dir
}
