import t from "tap";
import { formatBytes } from "../../../src/text/bytes.js";

t.test("sizes read as people say them", async (t) => {
  t.equal(formatBytes(0), "0 bytes", "an empty file is not '0 KiB'");
  t.equal(formatBytes(1), "1 byte");
  t.equal(formatBytes(875), "875 bytes");
  t.equal(formatBytes(1024), "1 KiB");
  t.equal(formatBytes(1025), "2 KiB", "rounded up: never smaller than the file");
  t.equal(formatBytes(5 * 1024 * 1024 + 300 * 1024), "5.3 MiB");
  t.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
});
