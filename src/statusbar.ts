/**
 * The status bar item of the notebook in front: its chain, the model of its latest turn, the number of
 * turns, and the tokens and estimated cost of the whole notebook (`GET status?path=`), read again when
 * the notebook changes, after each cell it runs, and every 10 s.
 */

import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { INotebookStatus, requestAPI } from './api';

/** `950`, `12.4k`, `3.2M` tokens. */
export function compact(count: number): string {
  if (count < 1000) {
    return String(count);
  }
  if (count < 1_000_000) {
    return `${(count / 1000).toFixed(count < 10_000 ? 1 : 0)}k`;
  }
  return `${(count / 1_000_000).toFixed(1)}M`;
}

/** `$0.0042`, `$1.27`: small costs keep two significant digits. */
export function dollars(cost: number): string {
  if (cost === 0) {
    return '$0';
  }
  return cost < 1 ? `$${cost.toPrecision(2)}` : `$${cost.toFixed(2)}`;
}

/** The item's one line, or null when the notebook has no Gemini turns yet. */
export function statusLine(status: INotebookStatus): string | null {
  if (!status.turns && !status.tokens) {
    return null;
  }
  const parts = [`Gemini: ${status.chain ?? 'default'}`];
  if (status.model) {
    parts.push(status.model);
  }
  parts.push(`${status.turns} turn${status.turns === 1 ? '' : 's'}`);
  parts.push(`${compact(status.tokens)} tokens`);
  if (status.cost_usd !== null && status.cost_usd !== undefined) {
    parts.push(`≈ ${dollars(status.cost_usd)}`);
  }
  return parts.join(' · ');
}

export class GeminiStatus extends Widget {
  constructor(
    private _tracker: INotebookTracker,
    private _settings: ServerConnection.ISettings
  ) {
    super();
    this.addClass('jp-GeminiStatus');
    this.node.title =
      'Gemini in this notebook: chain, model, turns; tokens and estimated cost of all its turns';
    this._poll = new Poll({
      auto: true,
      factory: () => this._fetch(),
      frequency: { interval: 10_000, backoff: true, max: 60_000 },
      name: 'gemini-magics:status',
      standby: 'when-hidden'
    });
    _tracker.currentChanged.connect(this._refresh, this);
    NotebookActions.executed.connect(this._refresh, this);
  }

  /** Whether the item has something to say (the status bar hides it otherwise). */
  get hasStatus(): boolean {
    return this._line !== null;
  }

  dispose(): void {
    this._poll.dispose();
    this._tracker.currentChanged.disconnect(this._refresh, this);
    NotebookActions.executed.disconnect(this._refresh, this);
    super.dispose();
  }

  private _refresh(): void {
    void this._poll.refresh();
  }

  private async _fetch(): Promise<void> {
    const path = this._tracker.currentWidget?.context.path ?? null;
    let line: string | null = null;
    if (path) {
      try {
        const status = await requestAPI<INotebookStatus>(
          `status?path=${encodeURIComponent(path)}`,
          this._settings
        );
        line = statusLine(status);
      } catch {
        line = null; // the server extension is missing or failed: say nothing rather than something wrong
      }
    }
    if (path !== (this._tracker.currentWidget?.context.path ?? null)) {
      return; // the notebook changed meanwhile: its own fetch follows
    }
    this._line = line;
    this.node.textContent = line ?? '';
    this.setHidden(line === null);
  }

  private _poll: Poll;
  private _line: string | null = null;
}
