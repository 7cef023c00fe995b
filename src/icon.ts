import { LabIcon } from '@jupyterlab/ui-components';

import geminiSvg from '../style/icons/gemini.svg';

/** The four-pointed spark of the sidebar tab, report tabs and status bar (theme-coloured: jp-icon3). */
export const geminiIcon = new LabIcon({
  name: 'gemini-magics:gemini',
  svgstr: geminiSvg
});
