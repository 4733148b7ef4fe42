// The words of the offline, install and push features, Vietnamese first (NFC), English available. Kept apart
// from i18n.ts so these features stay in their own modules; the language is the app's (i18n.currentLanguage).

import { currentLanguage, translator } from "../i18n";

const vi = {
  download: "Tải về để đọc ngoại tuyến",
  downloadSizing: "Đang tính dung lượng…",
  downloadSize: "Sách này chiếm khoảng {size} trên máy.",
  downloadStart: "Tải về ({size})",
  downloadCancel: "Thôi",
  downloadProgress: "Đang tải về: {done} / {total}",
  downloadProgressLabel: "Tiến độ tải về",
  downloaded: "Đã tải về máy này · {size} · đọc được khi không có mạng đến {until}",
  downloadDone: "Đã tải xong. Bạn có thể đọc sách này khi không có mạng.",
  deleteCopy: "Xoá bản tải về",
  copyDeleted: "Đã xoá bản tải về khỏi máy này.",
  onlineOnlyNotStored: "Sách chỉ đọc trực tuyến: không tải về máy được.",
  storageTitle: "Sách đã tải về máy này",
  storageUsed: "Đang dùng {used} trên máy (trình duyệt cho phép khoảng {quota}).",
  storageNone: "Chưa có sách nào được tải về máy này.",
  storageUnknown: "Trình duyệt không cho biết dung lượng còn trống.",
  offlineBanner: "Bạn đang ngoại tuyến: chỉ đọc được sách đã tải về. Vị trí đọc sẽ được đồng bộ khi có mạng lại.",
  offlineShelf: "Tủ sách như lần cuối có mạng.",
  synced: "Đã đồng bộ vị trí đọc.",
  installHint: "Cài Sách Số lên máy để mở nhanh và đọc cả khi không có mạng.",
  install: "Cài đặt",
  installLater: "Để sau",
  pushTitle: "Thông báo trên thiết bị này",
  pushHelp: "Nhận thông báo khi sách bạn chờ đã sẵn sàng, sắp hết hạn giữ, hoặc sách mượn sắp đến hạn trả — kể cả khi không mở Sách Số. Giờ yên lặng vẫn được tôn trọng.",
  pushEnable: "Nhận thông báo trên thiết bị này",
  pushEnabled: "Thiết bị này đã nhận thông báo.",
  pushUnsupported: "Trình duyệt này không nhận được thông báo đẩy.",
  pushDenied: "Trình duyệt đang chặn thông báo của Sách Số. Hãy cho phép trong phần cài đặt trang của trình duyệt.",
  pushDevices: "Thiết bị nhận thông báo",
  pushNoDevices: "Chưa có thiết bị nào nhận thông báo.",
  pushThisDevice: "thiết bị này",
  pushRemove: "Gỡ",
  pushRemoved: "Thiết bị sẽ không nhận thông báo nữa.",
  pushSince: "từ {date}",
  problemCopyEnded: "Hạn mượn sách này đã hết: bản tải về đã được xoá và không mở được nữa.",
  problemClock: "Đồng hồ của máy bị lùi lại so với lần cuối có mạng. Hãy chỉnh lại giờ hoặc kết nối mạng để mở sách đã tải về.",
  problemNotDownloaded: "Bạn đang ngoại tuyến và sách này chưa được tải về máy.",
  problemStorageFull: "Bộ nhớ của trình duyệt đã đầy. Hãy xoá bớt sách đã tải về (Tài khoản → Sách đã tải về máy này) rồi thử lại.",
  problemNotStorable: "Sách này chỉ đọc trực tuyến, không tải về được.",
  problemDownloadFailed: "Tải về không thành công. Kiểm tra mạng rồi thử lại.",
};

type Key = keyof typeof vi;

const en: Record<Key, string> = {
  download: "Download to read offline",
  downloadSizing: "Working out the size…",
  downloadSize: "This book takes about {size} on this device.",
  downloadStart: "Download ({size})",
  downloadCancel: "Cancel",
  downloadProgress: "Downloading: {done} of {total}",
  downloadProgressLabel: "Download progress",
  downloaded: "On this device · {size} · readable offline until {until}",
  downloadDone: "Downloaded. You can read this book without a connection.",
  deleteCopy: "Delete the download",
  copyDeleted: "The download was deleted from this device.",
  onlineOnlyNotStored: "Read online only: this book cannot be downloaded.",
  storageTitle: "Books downloaded to this device",
  storageUsed: "Using {used} on this device (the browser allows about {quota}).",
  storageNone: "No book has been downloaded to this device.",
  storageUnknown: "The browser does not say how much space is left.",
  offlineBanner: "You are offline: only downloaded books can be read. Reading positions will sync when you are back online.",
  offlineShelf: "Your shelf as it was when you were last online.",
  synced: "Reading positions synced.",
  installHint: "Install Sách Số to open it quickly and read even without a connection.",
  install: "Install",
  installLater: "Not now",
  pushTitle: "Notifications on this device",
  pushHelp: "Hear when a book you are waiting for is ready, when a hold is about to lapse, or when a loan is due soon — even with Sách Số closed. Quiet hours are respected.",
  pushEnable: "Get notifications on this device",
  pushEnabled: "This device receives notifications.",
  pushUnsupported: "This browser cannot receive push notifications.",
  pushDenied: "The browser blocks notifications from Sách Số. Allow them in the browser's site settings.",
  pushDevices: "Devices that receive notifications",
  pushNoDevices: "No device receives notifications yet.",
  pushThisDevice: "this device",
  pushRemove: "Remove",
  pushRemoved: "That device will no longer receive notifications.",
  pushSince: "since {date}",
  problemCopyEnded: "This loan has ended: the download was deleted and the book cannot be opened any more.",
  problemClock: "This device's clock went back since it was last online. Set the time right or connect to open downloaded books.",
  problemNotDownloaded: "You are offline and this book has not been downloaded to this device.",
  problemStorageFull: "The browser's storage is full. Delete some downloaded books (Account → Books downloaded to this device) and try again.",
  problemNotStorable: "This book is read online only and cannot be downloaded.",
  problemDownloadFailed: "The download did not complete. Check your connection and try again.",
};

/** The message ``key`` in the reader's language, with ``{name}`` placeholders filled in. */
export const ot = translator<Key>({ vi, en });

/** A failure of the app itself (not a service's problem answer), already in the reader's words. */
export class AppProblem extends Error {
  constructor(readonly key: Extract<Key, `problem${string}`>) {
    super(ot(key));
  }
}

/** "3,0 MB": a size in the reader's language. */
export function formatBytes(bytes: number): string {
  const locale = currentLanguage() === "vi" ? "vi-VN" : "en-GB";
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: unit >= 2 ? 1 : 0, minimumFractionDigits: unit >= 2 ? 1 : 0 }).format(value)} ${units[unit]}`;
}
