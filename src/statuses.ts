/**
 * What each run status means here, as gemini_magics/statuses.py says it for the magics' widgets: the
 * words, the icon and the colour of the live progress bar (tqdm.notebook's styles: info while running,
 * success, danger, warning when cancelled; purple for a spent budget, teal for idle).
 */

const RUNNING = new Set(['in_progress', 'queued', 'requires_continuation']);
const SUCCESS = new Set(['completed', 'requires_action', 'idle']);
const ENDED = new Set([
  'completed',
  'failed',
  'cancelled',
  'incomplete',
  'requires_action',
  'budget_exceeded',
  'idle',
  'interrupted'
]);

const WORDS: Record<string, string> = {
  requires_continuation: 'in_progress',
  completed: 'completed',
  requires_action: 'completed',
  idle: 'finished: idle',
  failed: 'failed',
  cancelled: 'cancelled',
  incomplete: 'stopped: output limit reached',
  budget_exceeded: 'stopped: budget exceeded'
};

const ICONS: Record<string, string> = {
  completed: '✓',
  requires_action: '✓',
  idle: '✓',
  failed: '✗',
  incomplete: '✗',
  interrupted: '✗',
  budget_exceeded: '⊘',
  cancelled: '■'
};

/** The bar style of statuses.BAR_STYLES, or the status itself where statuses.COLOURS has a colour. */
const STYLES: Record<string, string> = {
  completed: 'success',
  requires_action: 'success',
  idle: 'idle',
  failed: 'danger',
  incomplete: 'danger',
  interrupted: 'danger',
  cancelled: 'warning',
  budget_exceeded: 'budget'
};

export function isEnded(status: string): boolean {
  return ENDED.has(status);
}

export function isRunning(status: string): boolean {
  return RUNNING.has(status);
}

export function isSuccess(status: string): boolean {
  return SUCCESS.has(status);
}

export function words(status: string): string {
  return WORDS[status] ?? status;
}

export function icon(status: string): string {
  return ICONS[status] ?? (isRunning(status) ? '◐' : '•');
}

/** The badge's colour class suffix: `info` while running, else the end's style (`other` if unknown). */
export function style(status: string): string {
  return STYLES[status] ?? (isRunning(status) ? 'info' : 'other');
}

/** The Notification type of an end. */
export function notificationType(
  status: string
): 'success' | 'error' | 'warning' | 'info' {
  switch (style(status)) {
    case 'success':
    case 'idle':
      return 'success';
    case 'danger':
      return 'error';
    case 'warning':
    case 'budget':
      return 'warning';
    default:
      return 'info';
  }
}

/** `1:05` / `1:02:03`, as progress.clock writes elapsed time. */
export function clock(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, '0');
  return hours
    ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}`
    : `${minutes}:${secs}`;
}

/** `14:02:11` today, `Mar 3 14:02` on another day (epoch seconds, the browser's time zone). */
export function startedAt(epoch: number, now: Date = new Date()): string {
  const date = new Date(epoch * 1000);
  const time = date.toLocaleTimeString([], { hour12: false });
  if (date.toDateString() === now.toDateString()) {
    return time;
  }
  const day = date.toLocaleDateString([], { month: 'short', day: 'numeric' });
  return `${day} ${time.slice(0, 5)}`;
}
