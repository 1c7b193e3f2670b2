import { demux } from "../../host/exec";

const frame = (stream: number, text: string) => {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([header, Buffer.from(text)]);
};

test("demux joins the payloads of Docker's multiplexed stdout and stderr frames, in order", () => {
  expect(demux(Buffer.concat([frame(1, "R 0 0\nR 1"), frame(2, " 1\n")]))).toBe("R 0 0\nR 1 1\n");
});

test("demux ignores a trailing partial header", () => {
  expect(demux(Buffer.concat([frame(1, "done\n"), Buffer.from([1, 0, 0])]))).toBe("done\n");
});
