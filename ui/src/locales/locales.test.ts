// The two message files say the same things: every key of zh-CN.json is in en.json and back,
// each with the same {placeholders} (a missing English text would show its key in the window;
// a missing placeholder would drop a value from the sentence).
import { describe, expect, it } from "vitest";
import zh from "./zh-CN.json";
import en from "./en.json";

type Tree = { [key: string]: unknown };

/** Every text (in objects and arrays) as [dotted key, text]. */
function leaves(tree: Tree, prefix = ""): [string, string][] {
  return Object.entries(tree).flatMap(([k, v]): [string, string][] => {
    if (typeof v === "string") return [[prefix + k, v]];
    if (v && typeof v === "object") return leaves(v as Tree, `${prefix}${k}.`);
    return [[prefix + k, `(not a text: ${String(v)})`]];
  });
}

/** The named placeholders of a vue-i18n message, sorted. */
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("locale files", () => {
  const zhLeaves = new Map(leaves(zh));
  const enLeaves = new Map(leaves(en));

  it("have the same keys", () => {
    expect([...enLeaves.keys()].filter((k) => !zhLeaves.has(k))).toEqual([]);
    expect([...zhLeaves.keys()].filter((k) => !enLeaves.has(k))).toEqual([]);
  });

  it("have the same placeholders per key", () => {
    const differ = [...zhLeaves].filter(([k, text]) => enLeaves.has(k) && placeholders(text).join() !== placeholders(enLeaves.get(k)!).join());
    expect(differ.map(([k]) => k)).toEqual([]);
  });

  it("the check sees a missing key and a dropped placeholder", () => {
    const a = new Map(leaves({ x: { y: "有{n}个" }, z: "好" }));
    const b = new Map(leaves({ x: { y: "has items" } }));
    expect([...a.keys()].filter((k) => !b.has(k))).toEqual(["z"]);
    expect(placeholders(a.get("x.y")!)).not.toEqual(placeholders(b.get("x.y")!));
  });
});
