/** The LW pipelines' --lw-variance-target (pipelines/lib/flags.ts): "auto" or a number, into the LwConfig they run. */
import { describe, expect, test } from "bun:test"
import { parseFlags, UsageError } from "../../shared/engine/flags.ts"
import { lwPresets } from "../../shared/lw/config.ts"
import { lwConfigFrom, lwFlags } from "../../pipelines/lib/flags.ts"

const defs = lwFlags({ quickMaxEpochs: 30 })
const configOf = (argv: string[]) => lwConfigFrom(lwPresets.lw, parseFlags(defs, argv, {}))

describe("--lw-variance-target", () => {
  test('default "auto": the method\'s config exactly (the same LW step keys as before the flag)', () => {
    expect(configOf([])).toEqual(lwPresets.lw)
    expect(configOf(["--lw-variance-target", "auto"]).varianceTarget).toBe("auto")
  })
  test("a number is used as given: the thesis' 1, or any other", () => {
    expect(configOf(["--lw-variance-target", "1"])).toEqual(lwPresets.lwThesisTarget)
    expect(configOf(["--lw-variance-target=0.5"]).varianceTarget).toBe(0.5)
    expect(configOf(["--lw-variance-target", ".25"]).varianceTarget).toBe(0.25)
  })
  test("anything else is a usage error naming the flag", () => {
    for (const bad of ["half", "-1", "1e-2", ""]) {
      expect(() => parseFlags(defs, [`--lw-variance-target=${bad}`], {})).toThrow(UsageError)
    }
    expect(() => parseFlags(defs, ["--lw-variance-target", "half"], {})).toThrow(/--lw-variance-target/)
  })
})
