/**
 * Highlighting of `%%gemini` cells in the notebook editor (CodeMirror 6).
 *
 * A code cell is parsed as IPython; a `%%gemini` cell's body is a prompt, and an apostrophe in it would
 * open a Python string that runs to the end of the cell. So while a cell's first line is `%%gemini …`, this
 * extension gives the editor another language, with the highest precedence: Markdown (GFM, as the
 * renderer reads it) plus a block parser for the magic line (the magic, its flags and their values, the
 * NAME the result is stored in) and an inline parser for `{name}` references. Every other cell keeps its
 * own language; the switch is made again on each edit of the first line.
 *
 * Tags derive from the standard ones, so JupyterLab's own highlight style colours them with the theme's
 * editor variables (light and dark); a second style, scoped to this language, adds `cm-gemini-*` classes
 * that style/base.css refines and that tests can find.
 */

import { markdown, markdownLanguage } from '@codemirror/lang-markdown';
import {
  HighlightStyle,
  Language,
  syntaxHighlighting
} from '@codemirror/language';
import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  Text
} from '@codemirror/state';
import { Tag, tags as t } from '@lezer/highlight';
import {
  BlockContext,
  Element,
  InlineContext,
  Line,
  MarkdownConfig
} from '@lezer/markdown';

import { BOOLEAN_FLAGS } from './flags';

/** Tags of the magic line and of references; children of standard tags, so themes colour them. */
export const geminiTags = {
  magic: Tag.define(t.keyword),
  flag: Tag.define(t.attributeName),
  value: Tag.define(t.string),
  name: Tag.define(t.variableName),
  reference: Tag.define(t.variableName)
};

const MAGIC = '%%gemini';
const MAGIC_LINE = /^%%gemini(?=\s|$)/;
/** A word of the magic line: a quoted string (maybe unclosed while typing) or a run of non-blanks. */
const WORD = /"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|\S+/g;
/** `{ref}` as gemini_magics/interpolate.py reads it (after the opening braces): NAME, `.NAME`, `[index]`. */
const NAME = '[\\p{L}_][\\p{L}\\p{N}_]*';
const REFERENCE = new RegExp(
  `^(\\{+)(${NAME}(?:\\.${NAME}|\\[(?:-?\\d+|'[^'\\\\\\r\\n]*'|"[^"\\\\\\r\\n]*")\\])*)(\\}+)`,
  'u'
);
/** Foreign syntax just before a brace: `\frac{a}{b}` (LaTeX arguments), `${x}`, `^{x}`, `\{`. */
const FOREIGN_BEFORE =
  /(?:\\[A-Za-z]+\*?(?:\[[^\]\n]*\])?(?:\{(?:[^{}\n]|\{[^{}\n]*\})*\})*|[$^\\])$/;
const OPEN_BRACE = 123;

/** Whether a document is a `%%gemini` cell (its first line is the magic). */
export function isGeminiCell(doc: Text): boolean {
  return doc.lines > 0 && MAGIC_LINE.test(doc.line(1).text);
}

/** The magic line's elements: the magic, flags, their values and the NAME. */
function magicLine(cx: BlockContext, text: string, start: number): Element[] {
  const children: Element[] = [
    cx.elt('GeminiMagic', start, start + MAGIC.length)
  ];
  let expectValue = false;
  WORD.lastIndex = MAGIC.length;
  for (let m = WORD.exec(text); m !== null; m = WORD.exec(text)) {
    const word = m[0];
    const from = start + m.index;
    const to = from + word.length;
    const isFlag = /^-{1,2}[A-Za-z]/.test(word);
    if (isFlag && word.includes('=')) {
      const eq = from + word.indexOf('=');
      children.push(cx.elt('GeminiFlag', from, eq));
      children.push(cx.elt('GeminiValue', eq + 1, to));
      expectValue = false;
    } else if (isFlag) {
      children.push(cx.elt('GeminiFlag', from, to));
      expectValue = !BOOLEAN_FLAGS.has(word);
    } else {
      children.push(
        cx.elt(expectValue ? 'GeminiValue' : 'GeminiName', from, to)
      );
      expectValue = false;
    }
  }
  return children;
}

const geminiMarkdown: MarkdownConfig = {
  defineNodes: [
    { name: 'GeminiMagicLine', block: true },
    { name: 'GeminiMagic', style: geminiTags.magic },
    { name: 'GeminiFlag', style: geminiTags.flag },
    { name: 'GeminiValue', style: geminiTags.value },
    { name: 'GeminiName', style: geminiTags.name },
    { name: 'GeminiReference', style: geminiTags.reference }
  ],
  parseBlock: [
    {
      name: 'GeminiMagicLine',
      before: 'FencedCode',
      parse(cx: BlockContext, line: Line): boolean {
        if (cx.lineStart !== 0 || !MAGIC_LINE.test(line.text)) {
          return false;
        }
        const end = cx.lineStart + line.text.length;
        const children = magicLine(cx, line.text, cx.lineStart);
        cx.addElement(cx.elt('GeminiMagicLine', cx.lineStart, end, children));
        cx.nextLine();
        return true;
      }
    }
  ],
  parseInline: [
    {
      name: 'GeminiReference',
      before: 'Emphasis',
      parse(cx: InlineContext, next: number, pos: number): number {
        if (next !== OPEN_BRACE || cx.char(pos - 1) === OPEN_BRACE) {
          return -1; // not a brace, or inside a run of braces that its first brace decided
        }
        if (FOREIGN_BEFORE.test(cx.slice(Math.max(cx.offset, pos - 80), pos))) {
          return -1;
        }
        const match = REFERENCE.exec(cx.slice(pos, cx.end));
        if (match === null) {
          return -1;
        }
        // As in str.format: each doubled pair of braces is a literal pair; an odd pair out substitutes.
        const [whole, opening, ref] = match;
        const pairs = Math.min(opening.length, match[3].length);
        if (pairs % 2 === 0) {
          return pos + whole.length;
        }
        const from = pos + opening.length - 1;
        cx.addElement(cx.elt('GeminiReference', from, from + ref.length + 2));
        return pos + whole.length;
      }
    }
  ]
};

/** The language of `%%gemini` cells: GitHub-flavoured Markdown with the magic line and references. */
export const geminiLanguage: Language = markdown({
  base: markdownLanguage,
  extensions: [geminiMarkdown]
}).language;

/** Semantic classes for this language only (colours come from JupyterLab's style and base.css). */
const geminiClasses = HighlightStyle.define(
  [
    { tag: geminiTags.magic, class: 'cm-gemini-magic' },
    { tag: geminiTags.flag, class: 'cm-gemini-flag' },
    { tag: geminiTags.value, class: 'cm-gemini-value' },
    { tag: geminiTags.name, class: 'cm-gemini-name' },
    { tag: geminiTags.reference, class: 'cm-gemini-reference' },
    { tag: t.heading, class: 'cm-gemini-heading' },
    { tag: t.emphasis, class: 'cm-gemini-emphasis' },
    { tag: t.strong, class: 'cm-gemini-strong' },
    { tag: t.monospace, class: 'cm-gemini-code' },
    { tag: [t.link, t.url], class: 'cm-gemini-link' },
    { tag: t.quote, class: 'cm-gemini-quote' },
    { tag: t.list, class: 'cm-gemini-list' }
  ],
  { scope: geminiLanguage }
);

/** Where each editor holds the `%%gemini` language: empty, or the language with the highest precedence. */
const cellLanguage = new Compartment();
const GEMINI: Extension = Prec.highest(geminiLanguage.extension);

/**
 * The editor extension: `%%gemini` cells read as the language above, every other cell as before. The
 * `language` facet keeps its first value by precedence, so while the compartment holds the language it
 * wins over JupyterLab's (in JupyterLab's own compartment), and when it is emptied JupyterLab's applies
 * again. The compartment is switched by the transaction that makes or unmakes the magic line.
 *
 * @param source The cell's text when its editor is created.
 */
export function geminiCells(source: string): Extension {
  const initial = MAGIC_LINE.test(source.split('\n', 1)[0]);
  return [
    cellLanguage.of(initial ? GEMINI : []),
    EditorState.transactionExtender.of(tr => {
      if (!tr.docChanged) {
        return null;
      }
      const wanted = isGeminiCell(tr.newDoc);
      const active = cellLanguage.get(tr.startState) === GEMINI;
      return wanted === active
        ? null
        : { effects: cellLanguage.reconfigure(wanted ? GEMINI : []) };
    }),
    syntaxHighlighting(geminiClasses)
  ];
}
