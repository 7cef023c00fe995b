/**
 * Every background run on the server, polled from `GET runs` (every 1.5 s while the page is visible;
 * backing off to 30 s while the server extension fails), with the runs that ended since the last poll.
 * One model feeds the sidebar, the notifications and the status bar.
 */

import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { APIError, IRun, IRunsReply, requestAPI } from './api';
import { isEnded } from './statuses';

export const POLL_INTERVAL_MS = 1500;

export class RunsModel implements IDisposable {
  constructor(readonly settings: ServerConnection.ISettings) {
    this._poll = new Poll({
      auto: true,
      factory: () => this._fetch(),
      frequency: { interval: POLL_INTERVAL_MS, backoff: true, max: 30_000 },
      name: 'gemini-magics:runs',
      standby: 'when-hidden'
    });
  }

  /** The runs of the last successful poll, newest first. */
  get runs(): readonly IRun[] {
    return this._runs;
  }

  /** The server's clock at the last poll (epoch seconds), for the elapsed time of running runs. */
  get now(): number {
    return this._now;
  }

  /** Why the last poll failed, in one line (null: it did not). */
  get error(): string | null {
    return this._error;
  }

  /** Whether a poll has answered yet (before: "loading", not "no runs"). */
  get loaded(): boolean {
    return this._loaded;
  }

  /** After every poll, successful or not. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Runs that reached an end since the previous poll (not those already ended when the page opened). */
  get ended(): ISignal<this, IRun[]> {
    return this._ended;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  find(id: string): IRun | undefined {
    return this._runs.find(run => run.id === id);
  }

  /** Poll now (after a cancel, when the sidebar is shown). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetch(): Promise<void> {
    let reply: IRunsReply;
    try {
      reply = await requestAPI<IRunsReply>('runs', this.settings);
    } catch (error) {
      this._error =
        error instanceof APIError
          ? error.message
          : 'the runs could not be read';
      this._changed.emit();
      throw error; // the poll backs off
    }
    const ended: IRun[] = [];
    const runs = Array.isArray(reply.runs) ? reply.runs : [];
    if (this._since === null) {
      this._since = reply.now;
    } else {
      for (const run of runs) {
        if (!isEnded(run.status)) {
          continue;
        }
        const before = this._statuses.get(run.id);
        const endedNow =
          before === undefined
            ? (run.finished ?? 0) >= this._since // started and ended between two polls
            : !isEnded(before);
        if (endedNow) {
          ended.push(run);
        }
      }
    }
    this._statuses = new Map(runs.map(run => [run.id, run.status]));
    this._runs = runs;
    this._now = reply.now;
    this._error = null;
    this._loaded = true;
    this._changed.emit();
    if (ended.length) {
      this._ended.emit(ended);
    }
  }

  private _poll: Poll;
  private _runs: IRun[] = [];
  private _now = Date.now() / 1000;
  private _error: string | null = null;
  private _loaded = false;
  private _since: number | null = null;
  private _statuses = new Map<string, string>();
  private _changed = new Signal<this, void>(this);
  private _ended = new Signal<this, IRun[]>(this);
}
