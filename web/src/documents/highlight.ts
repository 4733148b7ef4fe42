// Finding a query in Vietnamese text with diacritics optional ("cai dat" finds "Cài đặt"), as the services do:
// both sides folded (NFD, combining marks dropped, đ → d, case-folded), matches mapped back to the original text.

function foldChar(char: string): string {
  return char
    .replace(/[đĐ]/g, "d")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase();
}

/** The ranges [start, end) of ``text`` where the folded query's words appear in sequence. */
export function matchRanges(text: string, query: string): Array<[number, number]> {
  const words = foldChar(query).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (!words.length) return [];
  let folded = "";
  const origin: number[] = []; // folded index → index in text
  Array.from(text).reduce((offset, char) => {
    for (const part of foldChar(char)) {
      folded += part;
      origin.push(offset);
    }
    return offset + char.length;
  }, 0);
  const pattern = new RegExp(words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^\\p{L}\\p{N}]+"), "gu");
  const ranges: Array<[number, number]> = [];
  for (const found of folded.matchAll(pattern)) {
    const start = origin[found.index] ?? 0;
    const last = found.index + found[0].length - 1;
    const lastOrigin = origin[last] ?? start;
    ranges.push([start, lastOrigin + (text.codePointAt(lastOrigin)! > 0xffff ? 2 : 1)]);
  }
  return ranges;
}

/** ``text`` as nodes, the matches of ``query`` wrapped in <mark>. */
export function highlighted(text: string, query: string): Node[] {
  const nodes: Node[] = [];
  let at = 0;
  for (const [start, end] of matchRanges(text, query)) {
    if (start > at) nodes.push(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    nodes.push(mark);
    at = end;
  }
  nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}
