/**
 * The Gemini sidebar: one row per background run of any notebook on the server, updated in place at each
 * poll (rows keep their buttons and the user's selection). Every text from the server — notebook names,
 * thoughts, errors, titles — goes into the page as `textContent`, never as HTML.
 */

import { Widget } from '@lumino/widgets';

import { IRun } from './api';
import { RunsModel } from './runs';
import {
  clock,
  icon,
  isEnded,
  isRunning,
  startedAt,
  style,
  words
} from './statuses';

/** What the buttons of a row do (the plugin wires them to the document manager and the API). */
export interface IRunActions {
  openNotebook(run: IRun): void;
  showReport(run: IRun): void;
  cancel(run: IRun): Promise<void>;
}

/** The notebook's file name, from its path or the chain store's key (`notebook:/abs/x.ipynb`). */
export function notebookName(run: IRun): string {
  const key = run.path || (run.notebook ?? '').replace(/^notebook:/, '');
  return key.split('/').pop() || 'unknown notebook';
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent?: HTMLElement
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent?.appendChild(node);
  return node;
}

/**
 * A thought summary's bold title line and its text: summaries are Markdown (`**Reading sources**\n\n…`),
 * shown here as plain text, so the title's asterisks are taken off and it is set in bold by CSS.
 */
export function splitThought(thought: string): [string, string] {
  const match = /^\s*(\*{2,3}|_{2})([^*_\n]+)\1\s*(?:\n+|$)([\s\S]*)$/.exec(
    thought
  );
  return match ? [match[2].trim(), match[3].trim()] : ['', thought.trim()];
}

/** Set text only when it changed (no needless DOM mutations at each poll). */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
  node.hidden = text === '';
}

const ROW = 'jp-GeminiRuns-run';

/** One run's row. */
class RunRow {
  constructor(
    run: IRun,
    private _actions: IRunActions
  ) {
    this.node = element('li', ROW);
    this.node.dataset.runId = run.id;
    const head = element('div', `${ROW}-head`, this.node);
    this._badge = element('span', 'jp-GeminiRuns-badge', head);
    this._what = element('span', `${ROW}-what`, head);
    this._notebook = element('div', `${ROW}-notebook`, this.node);
    this._title = element('div', `${ROW}-title`, this.node);
    this._time = element('div', `${ROW}-time`, this.node);
    this._thought = element('div', `${ROW}-thought`, this.node);
    this._thoughtTitle = element('div', `${ROW}-thought-title`, this._thought);
    this._thoughtText = element('div', `${ROW}-thought-text`, this._thought);
    this._error = element('div', `${ROW}-error`, this.node);
    const buttons = element('div', `${ROW}-actions`, this.node);
    this._open = this._button(buttons, 'Open notebook', 'open', () =>
      this._actions.openNotebook(this._run)
    );
    this._report = this._button(buttons, 'Show report', 'report', () =>
      this._actions.showReport(this._run)
    );
    this._cancel = this._button(buttons, 'Cancel', 'cancel', () => {
      this._cancel.disabled = true;
      void this._actions.cancel(this._run);
    });
    this._run = run;
  }

  readonly node: HTMLLIElement;

  update(run: IRun, now: number): void {
    this._run = run;
    const running = isRunning(run.status);
    this.node.dataset.status = run.status;
    this._badge.className = `jp-GeminiRuns-badge jp-GeminiRuns-badge-${style(run.status)}`;
    setText(this._badge, `${icon(run.status)} ${words(run.status)}`);
    const who = run.agent || run.model || '';
    setText(this._what, who ? `${run.kind} · ${who}` : run.kind);
    this._what.title = who;
    setText(this._notebook, notebookName(run));
    this._notebook.title = run.path || run.notebook || '';
    setText(this._title, run.title ?? '');
    const elapsed =
      run.elapsed ?? (run.started !== null ? now - run.started : null);
    const parts = [
      run.started !== null ? `started ${startedAt(run.started)}` : '',
      elapsed !== null ? clock(elapsed) : '',
      run.followed_by === 'server' && !isEnded(run.status)
        ? 'followed by the server'
        : ''
    ];
    setText(this._time, parts.filter(Boolean).join(' · '));
    const [title, text] = splitThought(run.thought ?? '');
    setText(this._thoughtTitle, title);
    setText(this._thoughtText, text);
    this._thought.hidden = !title && !text;
    setText(this._error, run.error ?? '');
    this._open.disabled = !run.path;
    this._open.title = run.path
      ? `Open ${run.path}`
      : 'The notebook is not under the server root';
    // While it runs, Cancel; after, its report (a running run has none yet).
    this._report.hidden = running;
    this._report.disabled = !run.has_report;
    this._report.title = run.has_report
      ? 'Show the report'
      : 'This run left no report';
    // A --map job runs in its kernel: it is stopped there (the server cannot cancel it).
    this._cancel.hidden = !running;
    this._cancel.disabled = !running || run.kind === 'map';
    this._cancel.title =
      run.kind === 'map'
        ? "A --map job stops in its notebook: its widget's Cancel, or interrupt the kernel"
        : 'Cancel this run on the service';
  }

  private _button(
    parent: HTMLElement,
    label: string,
    action: string,
    onClick: () => void
  ): HTMLButtonElement {
    const button = element(
      'button',
      `jp-GeminiRuns-button jp-GeminiRuns-${action}`,
      parent
    );
    button.type = 'button';
    button.textContent = label;
    button.addEventListener('click', onClick);
    return button;
  }

  private _run: IRun;
  private _badge: HTMLSpanElement;
  private _what: HTMLSpanElement;
  private _notebook: HTMLDivElement;
  private _title: HTMLDivElement;
  private _time: HTMLDivElement;
  private _thought: HTMLDivElement;
  private _thoughtTitle: HTMLDivElement;
  private _thoughtText: HTMLDivElement;
  private _error: HTMLDivElement;
  private _open: HTMLButtonElement;
  private _report: HTMLButtonElement;
  private _cancel: HTMLButtonElement;
}

/** The left panel. */
export class RunsPanel extends Widget {
  constructor(
    private _model: RunsModel,
    private _actions: IRunActions
  ) {
    super();
    this.addClass('jp-GeminiRuns');
    const header = element('header', 'jp-GeminiRuns-header', this.node);
    element('h2', 'jp-GeminiRuns-heading', header).textContent = 'Gemini runs';
    this._summary = element('div', 'jp-GeminiRuns-summary', header);
    this._status = element('div', 'jp-GeminiRuns-status', this.node);
    this._list = element('ul', 'jp-GeminiRuns-list', this.node);
    _model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const model = this._model;
    const runs = model.runs;
    const running = runs.filter(run => isRunning(run.status)).length;
    setText(
      this._summary,
      runs.length
        ? `${runs.length} run${runs.length === 1 ? '' : 's'}` +
            (running ? `, ${running} running` : '')
        : ''
    );
    let status = '';
    if (model.error) {
      status = model.error;
    } else if (!model.loaded) {
      status = 'Loading…';
    } else if (!runs.length) {
      status =
        'No background runs yet. A %%gemini --background cell, Deep Research (--research), ' +
        'a --map job or a --batch shows up here, from every notebook on this server.';
    }
    setText(this._status, status);
    this._status.classList.toggle('jp-mod-error', model.error !== null);

    const seen = new Set<string>();
    runs.forEach((run, index) => {
      seen.add(run.id);
      let row = this._rows.get(run.id);
      if (!row) {
        row = new RunRow(run, this._actions);
        this._rows.set(run.id, row);
      }
      row.update(run, model.now);
      if (this._list.children[index] !== row.node) {
        this._list.insertBefore(row.node, this._list.children[index] ?? null);
      }
    });
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
  }

  private _summary: HTMLDivElement;
  private _status: HTMLDivElement;
  private _list: HTMLUListElement;
  private _rows = new Map<string, RunRow>();
}
