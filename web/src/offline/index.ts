// Offline reading, installing and push, started once by the app shell (main.ts).

import "./offline.css";
import { watchBrowser } from "./connection";
import { offerInstall, watchConnection } from "./ui";
import { startOffline } from "./sync";

export function startOfflineFeatures(): void {
  watchConnection();
  watchBrowser();
  offerInstall();
  void startOffline();
}

export { loanOfflineControls, storageSection } from "./ui";
export { pushSection } from "./push";
export { AppProblem } from "./messages";
