"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __commonJS = (cb, mod) => function __require() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));

// action/src/native.ts
var require_native = __commonJS({
  "action/src/native.ts"() {
    "use strict";
    var import_node_fs26 = require("node:fs");
    var import_node_path33 = __toESM(require("node:path"));
    var file2 = import_node_path33.default.join(__dirname, `xattr.linux-${process.arch}-gnu.node`);
    if (!process.env.NAPI_RS_NATIVE_LIBRARY_PATH && (0, import_node_fs26.existsSync)(file2)) process.env.NAPI_RS_NATIVE_LIBRARY_PATH = file2;
  }
});

// node_modules/events-universal/default.js
var require_default = __commonJS({
  "node_modules/events-universal/default.js"(exports2, module2) {
    module2.exports = require("events");
  }
});

// node_modules/fast-fifo/fixed-size.js
var require_fixed_size = __commonJS({
  "node_modules/fast-fifo/fixed-size.js"(exports2, module2) {
    module2.exports = class FixedFIFO {
      constructor(hwm) {
        if (!(hwm > 0) || (hwm - 1 & hwm) !== 0) throw new Error("Max size for a FixedFIFO should be a power of two");
        this.buffer = new Array(hwm);
        this.mask = hwm - 1;
        this.top = 0;
        this.btm = 0;
        this.next = null;
      }
      clear() {
        this.top = this.btm = 0;
        this.next = null;
        this.buffer.fill(void 0);
      }
      push(data) {
        if (this.buffer[this.top] !== void 0) return false;
        this.buffer[this.top] = data;
        this.top = this.top + 1 & this.mask;
        return true;
      }
      shift() {
        const last = this.buffer[this.btm];
        if (last === void 0) return void 0;
        this.buffer[this.btm] = void 0;
        this.btm = this.btm + 1 & this.mask;
        return last;
      }
      peek() {
        return this.buffer[this.btm];
      }
      isEmpty() {
        return this.buffer[this.btm] === void 0;
      }
    };
  }
});

// node_modules/fast-fifo/index.js
var require_fast_fifo = __commonJS({
  "node_modules/fast-fifo/index.js"(exports2, module2) {
    var FixedFIFO = require_fixed_size();
    module2.exports = class FastFIFO {
      constructor(hwm) {
        this.hwm = hwm || 16;
        this.head = new FixedFIFO(this.hwm);
        this.tail = this.head;
        this.length = 0;
      }
      clear() {
        this.head = this.tail;
        this.head.clear();
        this.length = 0;
      }
      push(val) {
        this.length++;
        if (!this.head.push(val)) {
          const prev = this.head;
          this.head = prev.next = new FixedFIFO(2 * this.head.buffer.length);
          this.head.push(val);
        }
      }
      shift() {
        if (this.length !== 0) this.length--;
        const val = this.tail.shift();
        if (val === void 0 && this.tail.next) {
          const next = this.tail.next;
          this.tail.next = null;
          this.tail = next;
          return this.tail.shift();
        }
        return val;
      }
      peek() {
        const val = this.tail.peek();
        if (val === void 0 && this.tail.next) return this.tail.next.peek();
        return val;
      }
      isEmpty() {
        return this.length === 0;
      }
    };
  }
});

// node_modules/b4a/index.js
var require_b4a = __commonJS({
  "node_modules/b4a/index.js"(exports2, module2) {
    function isBuffer(value) {
      return Buffer.isBuffer(value) || value instanceof Uint8Array;
    }
    function isEncoding(encoding) {
      return Buffer.isEncoding(encoding);
    }
    function alloc(size, fill2, encoding) {
      return Buffer.alloc(size, fill2, encoding);
    }
    function allocUnsafe(size) {
      return Buffer.allocUnsafe(size);
    }
    function allocUnsafeSlow(size) {
      return Buffer.allocUnsafeSlow(size);
    }
    function byteLength(string, encoding) {
      return Buffer.byteLength(string, encoding);
    }
    function compare(a, b) {
      return Buffer.compare(a, b);
    }
    function concat(buffers, totalLength) {
      return Buffer.concat(buffers, totalLength);
    }
    function copy(source, target, targetStart, start2, end) {
      return toBuffer(source).copy(target, targetStart, start2, end);
    }
    function equals(a, b) {
      return toBuffer(a).equals(b);
    }
    function fill(buffer, value, offset, end, encoding) {
      return toBuffer(buffer).fill(value, offset, end, encoding);
    }
    function from(value, encodingOrOffset, length) {
      return Buffer.from(value, encodingOrOffset, length);
    }
    function includes(buffer, value, byteOffset, encoding) {
      return toBuffer(buffer).includes(value, byteOffset, encoding);
    }
    function indexOf(buffer, value, byfeOffset, encoding) {
      return toBuffer(buffer).indexOf(value, byfeOffset, encoding);
    }
    function lastIndexOf(buffer, value, byteOffset, encoding) {
      return toBuffer(buffer).lastIndexOf(value, byteOffset, encoding);
    }
    function swap16(buffer) {
      return toBuffer(buffer).swap16();
    }
    function swap32(buffer) {
      return toBuffer(buffer).swap32();
    }
    function swap64(buffer) {
      return toBuffer(buffer).swap64();
    }
    function toBuffer(buffer) {
      if (Buffer.isBuffer(buffer)) return buffer;
      return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
    function toString(buffer, encoding, start2, end) {
      return toBuffer(buffer).toString(encoding, start2, end);
    }
    function toHex(buffer, start2, end) {
      return toBuffer(buffer).toString("hex", start2, end);
    }
    function write(buffer, string, offset, length, encoding) {
      return toBuffer(buffer).write(string, offset, length, encoding);
    }
    function readDoubleBE(buffer, offset) {
      return toBuffer(buffer).readDoubleBE(offset);
    }
    function readDoubleLE(buffer, offset) {
      return toBuffer(buffer).readDoubleLE(offset);
    }
    function readFloatBE(buffer, offset) {
      return toBuffer(buffer).readFloatBE(offset);
    }
    function readFloatLE(buffer, offset) {
      return toBuffer(buffer).readFloatLE(offset);
    }
    function readInt32BE(buffer, offset) {
      return toBuffer(buffer).readInt32BE(offset);
    }
    function readInt32LE(buffer, offset) {
      return toBuffer(buffer).readInt32LE(offset);
    }
    function readUInt32BE(buffer, offset) {
      return toBuffer(buffer).readUInt32BE(offset);
    }
    function readUInt32LE(buffer, offset) {
      return toBuffer(buffer).readUInt32LE(offset);
    }
    function writeDoubleBE(buffer, value, offset) {
      return toBuffer(buffer).writeDoubleBE(value, offset);
    }
    function writeDoubleLE(buffer, value, offset) {
      return toBuffer(buffer).writeDoubleLE(value, offset);
    }
    function writeFloatBE(buffer, value, offset) {
      return toBuffer(buffer).writeFloatBE(value, offset);
    }
    function writeFloatLE(buffer, value, offset) {
      return toBuffer(buffer).writeFloatLE(value, offset);
    }
    function writeInt32BE(buffer, value, offset) {
      return toBuffer(buffer).writeInt32BE(value, offset);
    }
    function writeInt32LE(buffer, value, offset) {
      return toBuffer(buffer).writeInt32LE(value, offset);
    }
    function writeUInt32BE(buffer, value, offset) {
      return toBuffer(buffer).writeUInt32BE(value, offset);
    }
    function writeUInt32LE(buffer, value, offset) {
      return toBuffer(buffer).writeUInt32LE(value, offset);
    }
    module2.exports = {
      isBuffer,
      isEncoding,
      alloc,
      allocUnsafe,
      allocUnsafeSlow,
      byteLength,
      compare,
      concat,
      copy,
      equals,
      fill,
      from,
      includes,
      indexOf,
      lastIndexOf,
      swap16,
      swap32,
      swap64,
      toBuffer,
      toString,
      toHex,
      write,
      readDoubleBE,
      readDoubleLE,
      readFloatBE,
      readFloatLE,
      readInt32BE,
      readInt32LE,
      readUInt32BE,
      readUInt32LE,
      writeDoubleBE,
      writeDoubleLE,
      writeFloatBE,
      writeFloatLE,
      writeInt32BE,
      writeInt32LE,
      writeUInt32BE,
      writeUInt32LE
    };
  }
});

// node_modules/text-decoder/lib/pass-through-decoder.js
var require_pass_through_decoder = __commonJS({
  "node_modules/text-decoder/lib/pass-through-decoder.js"(exports2, module2) {
    var b4a = require_b4a();
    module2.exports = class PassThroughDecoder {
      constructor(encoding) {
        this.encoding = encoding;
      }
      get remaining() {
        return 0;
      }
      decode(data) {
        return b4a.toString(data, this.encoding);
      }
      flush() {
        return "";
      }
    };
  }
});

// node_modules/text-decoder/lib/utf8-decoder.js
var require_utf8_decoder = __commonJS({
  "node_modules/text-decoder/lib/utf8-decoder.js"(exports2, module2) {
    var b4a = require_b4a();
    module2.exports = class UTF8Decoder {
      constructor() {
        this._reset();
      }
      get remaining() {
        return this.bytesSeen;
      }
      decode(data) {
        if (data.byteLength === 0) return "";
        if (this.bytesNeeded === 0 && trailingIncomplete(data, 0) === 0) {
          this.bytesSeen = trailingBytesSeen(data);
          return b4a.toString(data, "utf8");
        }
        let result = "";
        let start2 = 0;
        if (this.bytesNeeded > 0) {
          while (start2 < data.byteLength) {
            const byte = data[start2];
            if (byte < this.lowerBoundary || byte > this.upperBoundary) {
              result += "\uFFFD";
              this._reset();
              break;
            }
            this.lowerBoundary = 128;
            this.upperBoundary = 191;
            this.codePoint = this.codePoint << 6 | byte & 63;
            this.bytesSeen++;
            start2++;
            if (this.bytesSeen === this.bytesNeeded) {
              result += String.fromCodePoint(this.codePoint);
              this._reset();
              break;
            }
          }
          if (this.bytesNeeded > 0) return result;
        }
        const trailing = trailingIncomplete(data, start2);
        const end = data.byteLength - trailing;
        if (end > start2) result += b4a.toString(data, "utf8", start2, end);
        for (let i = end; i < data.byteLength; i++) {
          const byte = data[i];
          if (this.bytesNeeded === 0) {
            if (byte <= 127) {
              this.bytesSeen = 0;
              result += String.fromCharCode(byte);
            } else if (byte >= 194 && byte <= 223) {
              this.bytesNeeded = 2;
              this.bytesSeen = 1;
              this.codePoint = byte & 31;
            } else if (byte >= 224 && byte <= 239) {
              if (byte === 224) this.lowerBoundary = 160;
              else if (byte === 237) this.upperBoundary = 159;
              this.bytesNeeded = 3;
              this.bytesSeen = 1;
              this.codePoint = byte & 15;
            } else if (byte >= 240 && byte <= 244) {
              if (byte === 240) this.lowerBoundary = 144;
              else if (byte === 244) this.upperBoundary = 143;
              this.bytesNeeded = 4;
              this.bytesSeen = 1;
              this.codePoint = byte & 7;
            } else {
              this.bytesSeen = 1;
              result += "\uFFFD";
            }
            continue;
          }
          if (byte < this.lowerBoundary || byte > this.upperBoundary) {
            result += "\uFFFD";
            i--;
            this._reset();
            continue;
          }
          this.lowerBoundary = 128;
          this.upperBoundary = 191;
          this.codePoint = this.codePoint << 6 | byte & 63;
          this.bytesSeen++;
          if (this.bytesSeen === this.bytesNeeded) {
            result += String.fromCodePoint(this.codePoint);
            this._reset();
          }
        }
        return result;
      }
      flush() {
        const result = this.bytesNeeded > 0 ? "\uFFFD" : "";
        this._reset();
        return result;
      }
      _reset() {
        this.codePoint = 0;
        this.bytesNeeded = 0;
        this.bytesSeen = 0;
        this.lowerBoundary = 128;
        this.upperBoundary = 191;
      }
    };
    function trailingIncomplete(data, start2) {
      const len = data.byteLength;
      if (len <= start2) return 0;
      const limit = Math.max(start2, len - 4);
      let i = len - 1;
      while (i > limit && (data[i] & 192) === 128) i--;
      if (i < start2) return 0;
      const byte = data[i];
      let needed;
      if (byte <= 127) return 0;
      if (byte >= 194 && byte <= 223) needed = 2;
      else if (byte >= 224 && byte <= 239) needed = 3;
      else if (byte >= 240 && byte <= 244) needed = 4;
      else return 0;
      const available = len - i;
      return available < needed ? available : 0;
    }
    function trailingBytesSeen(data) {
      const len = data.byteLength;
      if (len === 0) return 0;
      const last = data[len - 1];
      if (last <= 127) return 0;
      if ((last & 192) !== 128) return 1;
      const limit = Math.max(0, len - 4);
      let i = len - 2;
      while (i >= limit && (data[i] & 192) === 128) i--;
      if (i < 0) return 1;
      const first = data[i];
      let needed;
      if (first >= 194 && first <= 223) needed = 2;
      else if (first >= 224 && first <= 239) needed = 3;
      else if (first >= 240 && first <= 244) needed = 4;
      else return 1;
      if (len - i !== needed) return 1;
      if (needed >= 3) {
        const second = data[i + 1];
        if (first === 224 && second < 160) return 1;
        if (first === 237 && second > 159) return 1;
        if (first === 240 && second < 144) return 1;
        if (first === 244 && second > 143) return 1;
      }
      return 0;
    }
  }
});

// node_modules/text-decoder/index.js
var require_text_decoder = __commonJS({
  "node_modules/text-decoder/index.js"(exports2, module2) {
    var PassThroughDecoder = require_pass_through_decoder();
    var UTF8Decoder = require_utf8_decoder();
    module2.exports = class TextDecoder {
      constructor(encoding = "utf8") {
        this.encoding = normalizeEncoding(encoding);
        switch (this.encoding) {
          case "utf8":
            this.decoder = new UTF8Decoder();
            break;
          case "utf16le":
          case "base64":
            throw new Error("Unsupported encoding: " + this.encoding);
          default:
            this.decoder = new PassThroughDecoder(this.encoding);
        }
      }
      get remaining() {
        return this.decoder.remaining;
      }
      push(data) {
        if (typeof data === "string") return data;
        return this.decoder.decode(data);
      }
      // For Node.js compatibility
      write(data) {
        return this.push(data);
      }
      end(data) {
        let result = "";
        if (data) result = this.push(data);
        result += this.decoder.flush();
        return result;
      }
    };
    function normalizeEncoding(encoding) {
      encoding = encoding.toLowerCase();
      switch (encoding) {
        case "utf8":
        case "utf-8":
          return "utf8";
        case "ucs2":
        case "ucs-2":
        case "utf16le":
        case "utf-16le":
          return "utf16le";
        case "latin1":
        case "binary":
          return "latin1";
        case "base64":
        case "ascii":
        case "hex":
          return encoding;
        default:
          throw new Error("Unknown encoding: " + encoding);
      }
    }
  }
});

// node_modules/streamx/lib/errors.js
var require_errors = __commonJS({
  "node_modules/streamx/lib/errors.js"(exports2, module2) {
    module2.exports = class StreamError extends Error {
      constructor(msg, code, fn = StreamError) {
        super(msg);
        this.code = code;
        if (Error.captureStackTrace) {
          Error.captureStackTrace(this, fn);
        }
      }
      static isStreamDestroyed(err) {
        return err && err.code === "STREAM_DESTROYED";
      }
      static isPrematureClose(err) {
        return err && err.code === "PREMATURE_CLOSE";
      }
      static isAborted(err) {
        return err && err.code === "ABORTED";
      }
      static isBadArgument(err) {
        return err && err.code === "BAD_ARGUMENT";
      }
      get name() {
        return "StreamError";
      }
      static STREAM_DESTROYED() {
        return new StreamError("Stream was destroyed", "STREAM_DESTROYED", StreamError.STREAM_DESTROYED);
      }
      static PREMATURE_CLOSE(msg = "Premature close") {
        return new StreamError(msg, "PREMATURE_CLOSE", StreamError.PREMATURE_CLOSE);
      }
      static ABORTED() {
        return new StreamError("Stream aborted", "ABORTED", StreamError.ABORTED);
      }
      static BAD_ARGUMENT(msg = "Bad argument") {
        return new StreamError(msg, "BAD_ARGUMENT", StreamError.BAD_ARGUMENT);
      }
    };
  }
});

// node_modules/streamx/index.js
var require_streamx = __commonJS({
  "node_modules/streamx/index.js"(exports2, module2) {
    var { EventEmitter } = require_default();
    var FIFO = require_fast_fifo();
    var TextDecoder = require_text_decoder();
    var StreamError = require_errors();
    var qmt = typeof queueMicrotask === "undefined" ? (fn) => global.process.nextTick(fn) : queueMicrotask;
    var MAX = (1 << 29) - 1;
    var OPENING = 1;
    var PREDESTROYING = 2;
    var DESTROYING = 4;
    var DESTROYED = 8;
    var NOT_OPENING = MAX ^ OPENING;
    var NOT_PREDESTROYING = MAX ^ PREDESTROYING;
    var READ_ACTIVE = 1 << 4;
    var READ_UPDATING = 2 << 4;
    var READ_PRIMARY = 4 << 4;
    var READ_QUEUED = 8 << 4;
    var READ_RESUMED = 16 << 4;
    var READ_PIPE_DRAINED = 32 << 4;
    var READ_ENDING = 64 << 4;
    var READ_EMIT_DATA = 128 << 4;
    var READ_EMIT_READABLE = 256 << 4;
    var READ_EMITTED_READABLE = 512 << 4;
    var READ_DONE = 1024 << 4;
    var READ_NEXT_TICK = 2048 << 4;
    var READ_NEEDS_PUSH = 4096 << 4;
    var READ_READ_AHEAD = 8192 << 4;
    var READ_FLOWING = READ_RESUMED | READ_PIPE_DRAINED;
    var READ_ACTIVE_AND_NEEDS_PUSH = READ_ACTIVE | READ_NEEDS_PUSH;
    var READ_PRIMARY_AND_ACTIVE = READ_PRIMARY | READ_ACTIVE;
    var READ_EMIT_READABLE_AND_QUEUED = READ_EMIT_READABLE | READ_QUEUED;
    var READ_RESUMED_READ_AHEAD = READ_RESUMED | READ_READ_AHEAD;
    var READ_NOT_ACTIVE = MAX ^ READ_ACTIVE;
    var READ_NON_PRIMARY = MAX ^ READ_PRIMARY;
    var READ_NON_PRIMARY_AND_PUSHED = MAX ^ (READ_PRIMARY | READ_NEEDS_PUSH);
    var READ_PUSHED = MAX ^ READ_NEEDS_PUSH;
    var READ_PAUSED = MAX ^ READ_RESUMED;
    var READ_NOT_QUEUED = MAX ^ (READ_QUEUED | READ_EMITTED_READABLE);
    var READ_NOT_ENDING = MAX ^ READ_ENDING;
    var READ_PIPE_NOT_DRAINED = MAX ^ READ_FLOWING;
    var READ_NOT_NEXT_TICK = MAX ^ READ_NEXT_TICK;
    var READ_NOT_UPDATING = MAX ^ READ_UPDATING;
    var READ_NO_READ_AHEAD = MAX ^ READ_READ_AHEAD;
    var READ_PAUSED_NO_READ_AHEAD = MAX ^ READ_RESUMED_READ_AHEAD;
    var WRITE_ACTIVE = 1 << 18;
    var WRITE_UPDATING = 2 << 18;
    var WRITE_PRIMARY = 4 << 18;
    var WRITE_QUEUED = 8 << 18;
    var WRITE_UNDRAINED = 16 << 18;
    var WRITE_DONE = 32 << 18;
    var WRITE_EMIT_DRAIN = 64 << 18;
    var WRITE_NEXT_TICK = 128 << 18;
    var WRITE_WRITING = 256 << 18;
    var WRITE_FINISHING = 512 << 18;
    var WRITE_CORKED = 1024 << 18;
    var WRITE_NOT_ACTIVE = MAX ^ (WRITE_ACTIVE | WRITE_WRITING);
    var WRITE_NON_PRIMARY = MAX ^ WRITE_PRIMARY;
    var WRITE_NOT_FINISHING = MAX ^ (WRITE_ACTIVE | WRITE_FINISHING);
    var WRITE_DRAINED = MAX ^ WRITE_UNDRAINED;
    var WRITE_NOT_QUEUED = MAX ^ WRITE_QUEUED;
    var WRITE_NOT_NEXT_TICK = MAX ^ WRITE_NEXT_TICK;
    var WRITE_NOT_UPDATING = MAX ^ WRITE_UPDATING;
    var WRITE_NOT_CORKED = MAX ^ WRITE_CORKED;
    var ACTIVE = READ_ACTIVE | WRITE_ACTIVE;
    var NOT_ACTIVE = MAX ^ ACTIVE;
    var DONE = READ_DONE | WRITE_DONE;
    var DESTROY_STATUS = DESTROYING | DESTROYED | PREDESTROYING;
    var OPEN_STATUS = DESTROY_STATUS | OPENING;
    var AUTO_DESTROY = DESTROY_STATUS | DONE;
    var NON_PRIMARY = WRITE_NON_PRIMARY & READ_NON_PRIMARY;
    var ACTIVE_OR_TICKING = WRITE_NEXT_TICK | READ_NEXT_TICK;
    var TICKING = ACTIVE_OR_TICKING & NOT_ACTIVE;
    var IS_OPENING = OPEN_STATUS | TICKING;
    var READ_PRIMARY_STATUS = OPEN_STATUS | READ_ENDING | READ_DONE;
    var READ_STATUS = OPEN_STATUS | READ_DONE | READ_QUEUED;
    var READ_ENDING_STATUS = OPEN_STATUS | READ_ENDING | READ_QUEUED;
    var READ_READABLE_STATUS = OPEN_STATUS | READ_EMIT_READABLE | READ_QUEUED | READ_EMITTED_READABLE;
    var SHOULD_NOT_READ = OPEN_STATUS | READ_ACTIVE | READ_ENDING | READ_DONE | READ_NEEDS_PUSH | READ_READ_AHEAD;
    var READ_BACKPRESSURE_STATUS = DESTROY_STATUS | READ_ENDING | READ_DONE;
    var READ_UPDATE_SYNC_STATUS = READ_UPDATING | OPEN_STATUS | READ_NEXT_TICK | READ_PRIMARY;
    var READ_NEXT_TICK_OR_OPENING = READ_NEXT_TICK | OPENING;
    var WRITE_PRIMARY_STATUS = OPEN_STATUS | WRITE_FINISHING | WRITE_DONE;
    var WRITE_QUEUED_AND_UNDRAINED = WRITE_QUEUED | WRITE_UNDRAINED;
    var WRITE_QUEUED_AND_ACTIVE = WRITE_QUEUED | WRITE_ACTIVE;
    var WRITE_DRAIN_STATUS = WRITE_QUEUED | WRITE_UNDRAINED | OPEN_STATUS | WRITE_ACTIVE;
    var WRITE_STATUS = OPEN_STATUS | WRITE_ACTIVE | WRITE_QUEUED | WRITE_CORKED;
    var WRITE_PRIMARY_AND_ACTIVE = WRITE_PRIMARY | WRITE_ACTIVE;
    var WRITE_ACTIVE_AND_WRITING = WRITE_ACTIVE | WRITE_WRITING;
    var WRITE_FINISHING_STATUS = OPEN_STATUS | WRITE_FINISHING | WRITE_QUEUED_AND_ACTIVE | WRITE_DONE;
    var WRITE_BACKPRESSURE_STATUS = WRITE_UNDRAINED | DESTROY_STATUS | WRITE_FINISHING | WRITE_DONE;
    var WRITE_UPDATE_SYNC_STATUS = WRITE_UPDATING | OPEN_STATUS | WRITE_NEXT_TICK | WRITE_PRIMARY;
    var WRITE_DROP_DATA = WRITE_FINISHING | WRITE_DONE | DESTROY_STATUS;
    var asyncIterator = Symbol.asyncIterator || /* @__PURE__ */ Symbol("asyncIterator");
    var WritableState = class {
      constructor(stream, { highWaterMark = 16384, map = null, mapWritable, byteLength, byteLengthWritable } = {}) {
        this.stream = stream;
        this.queue = new FIFO();
        this.highWaterMark = highWaterMark;
        this.buffered = 0;
        this.error = null;
        this.pipeline = null;
        this.drains = null;
        this.byteLength = byteLengthWritable || byteLength || defaultByteLength;
        this.map = mapWritable || map;
        this.afterWrite = afterWrite.bind(this);
        this.afterUpdateNextTick = updateWriteNT.bind(this);
      }
      get ending() {
        return (this.stream._duplexState & WRITE_FINISHING) !== 0;
      }
      get ended() {
        return (this.stream._duplexState & WRITE_DONE) !== 0;
      }
      push(data) {
        if ((this.stream._duplexState & WRITE_DROP_DATA) !== 0) return false;
        if (this.map !== null) data = this.map(data);
        this.buffered += this.byteLength(data);
        this.queue.push(data);
        if (this.buffered < this.highWaterMark) {
          this.stream._duplexState |= WRITE_QUEUED;
          return true;
        }
        this.stream._duplexState |= WRITE_QUEUED_AND_UNDRAINED;
        return false;
      }
      shift() {
        const data = this.queue.shift();
        this.buffered -= this.byteLength(data);
        if (this.buffered === 0) this.stream._duplexState &= WRITE_NOT_QUEUED;
        return data;
      }
      end(data) {
        if (typeof data === "function") {
          this.stream.once("finish", data);
        } else if (data !== void 0 && data !== null) {
          this.push(data);
        }
        this.stream._duplexState = (this.stream._duplexState | WRITE_FINISHING) & WRITE_NON_PRIMARY;
      }
      autoBatch(data, cb) {
        const buffer = [];
        const stream = this.stream;
        buffer.push(data);
        while ((stream._duplexState & WRITE_STATUS) === WRITE_QUEUED_AND_ACTIVE) {
          buffer.push(stream._writableState.shift());
        }
        if ((stream._duplexState & OPEN_STATUS) !== 0) return cb(null);
        stream._writev(buffer, cb);
      }
      update() {
        const stream = this.stream;
        stream._duplexState |= WRITE_UPDATING;
        do {
          while ((stream._duplexState & WRITE_STATUS) === WRITE_QUEUED) {
            const data = this.shift();
            stream._duplexState |= WRITE_ACTIVE_AND_WRITING;
            stream._write(data, this.afterWrite);
          }
          if ((stream._duplexState & WRITE_PRIMARY_AND_ACTIVE) === 0) this.updateNonPrimary();
        } while (this.continueUpdate() === true);
        stream._duplexState &= WRITE_NOT_UPDATING;
      }
      updateNonPrimary() {
        const stream = this.stream;
        if ((stream._duplexState & WRITE_FINISHING_STATUS) === WRITE_FINISHING) {
          stream._duplexState = stream._duplexState | WRITE_ACTIVE;
          stream._final(afterFinal.bind(this));
          return;
        }
        if ((stream._duplexState & DESTROY_STATUS) === DESTROYING) {
          if ((stream._duplexState & ACTIVE_OR_TICKING) === 0) {
            stream._duplexState |= ACTIVE;
            stream._destroy(afterDestroy.bind(this));
          }
          return;
        }
        if ((stream._duplexState & IS_OPENING) === OPENING) {
          stream._duplexState = (stream._duplexState | ACTIVE) & NOT_OPENING;
          stream._open(afterOpen.bind(this));
        }
      }
      continueUpdate() {
        if ((this.stream._duplexState & WRITE_NEXT_TICK) === 0) return false;
        this.stream._duplexState &= WRITE_NOT_NEXT_TICK;
        return true;
      }
      updateCallback() {
        if ((this.stream._duplexState & WRITE_UPDATE_SYNC_STATUS) === WRITE_PRIMARY) {
          this.update();
        } else {
          this.updateNextTick();
        }
      }
      updateNextTick() {
        if ((this.stream._duplexState & WRITE_NEXT_TICK) !== 0) return;
        this.stream._duplexState |= WRITE_NEXT_TICK;
        if ((this.stream._duplexState & WRITE_UPDATING) === 0) qmt(this.afterUpdateNextTick);
      }
    };
    var ReadableState = class {
      constructor(stream, { highWaterMark = 16384, map = null, mapReadable, byteLength, byteLengthReadable } = {}) {
        this.stream = stream;
        this.queue = new FIFO();
        this.highWaterMark = highWaterMark === 0 ? 1 : highWaterMark;
        this.buffered = 0;
        this.readAhead = highWaterMark > 0;
        this.error = null;
        this.pipeline = null;
        this.byteLength = byteLengthReadable || byteLength || defaultByteLength;
        this.map = mapReadable || map;
        this.pipeTo = null;
        this.afterRead = afterRead.bind(this);
        this.afterUpdateNextTick = updateReadNT.bind(this);
      }
      get ending() {
        return (this.stream._duplexState & READ_ENDING) !== 0;
      }
      get ended() {
        return (this.stream._duplexState & READ_DONE) !== 0;
      }
      pipe(pipeTo, cb) {
        if (this.pipeTo !== null) throw StreamError.BAD_ARGUMENT("Can only pipe to one destination");
        if (typeof cb !== "function") cb = null;
        this.stream._duplexState |= READ_PIPE_DRAINED;
        this.pipeTo = pipeTo;
        this.pipeline = new Pipeline(this.stream, pipeTo, cb);
        if (cb) this.stream.on("error", noop);
        if (isStreamx(pipeTo)) {
          pipeTo._writableState.pipeline = this.pipeline;
          if (cb) pipeTo.on("error", noop);
          pipeTo.on("finish", this.pipeline.finished.bind(this.pipeline));
        } else {
          const onerror = this.pipeline.done.bind(this.pipeline, pipeTo);
          const onclose = this.pipeline.done.bind(this.pipeline, pipeTo, null);
          pipeTo.on("error", onerror);
          pipeTo.on("close", onclose);
          pipeTo.on("finish", this.pipeline.finished.bind(this.pipeline));
        }
        pipeTo.on("drain", afterDrain.bind(this));
        this.stream.emit("piping", pipeTo);
        pipeTo.emit("pipe", this.stream);
      }
      push(data) {
        const stream = this.stream;
        if (data === null) {
          this.highWaterMark = 0;
          stream._duplexState = (stream._duplexState | READ_ENDING) & READ_NON_PRIMARY_AND_PUSHED;
          return false;
        }
        if (this.map !== null) {
          data = this.map(data);
          if (data === null) {
            stream._duplexState &= READ_PUSHED;
            return this.buffered < this.highWaterMark;
          }
        }
        this.buffered += this.byteLength(data);
        this.queue.push(data);
        stream._duplexState = (stream._duplexState | READ_QUEUED) & READ_PUSHED;
        return this.buffered < this.highWaterMark;
      }
      shift() {
        const data = this.queue.shift();
        this.buffered -= this.byteLength(data);
        if (this.buffered === 0) {
          this.stream._duplexState &= READ_NOT_QUEUED;
        }
        return data;
      }
      unshift(data) {
        const pending2 = [this.map !== null ? this.map(data) : data];
        while (this.buffered > 0) pending2.push(this.shift());
        for (let i = 0; i < pending2.length - 1; i++) {
          const data2 = pending2[i];
          this.buffered += this.byteLength(data2);
          this.queue.push(data2);
        }
        this.push(pending2[pending2.length - 1]);
      }
      read() {
        const stream = this.stream;
        if ((stream._duplexState & READ_STATUS) === READ_QUEUED) {
          const data = this.shift();
          if (this.pipeTo !== null && this.pipeTo.write(data) === false) {
            stream._duplexState &= READ_PIPE_NOT_DRAINED;
          }
          if ((stream._duplexState & READ_EMIT_DATA) !== 0) {
            stream.emit("data", data);
          }
          return data;
        }
        if (this.readAhead === false) {
          stream._duplexState |= READ_READ_AHEAD;
          this.updateNextTick();
        }
        return null;
      }
      drain() {
        const stream = this.stream;
        while ((stream._duplexState & READ_STATUS) === READ_QUEUED && (stream._duplexState & READ_FLOWING) !== 0) {
          const data = this.shift();
          if (this.pipeTo !== null && this.pipeTo.write(data) === false) {
            stream._duplexState &= READ_PIPE_NOT_DRAINED;
          }
          if ((stream._duplexState & READ_EMIT_DATA) !== 0) {
            stream.emit("data", data);
          }
        }
      }
      update() {
        const stream = this.stream;
        stream._duplexState |= READ_UPDATING;
        do {
          this.drain();
          while (this.buffered < this.highWaterMark && (stream._duplexState & SHOULD_NOT_READ) === READ_READ_AHEAD) {
            stream._duplexState |= READ_ACTIVE_AND_NEEDS_PUSH;
            stream._read(this.afterRead);
            this.drain();
          }
          if ((stream._duplexState & READ_READABLE_STATUS) === READ_EMIT_READABLE_AND_QUEUED) {
            stream._duplexState |= READ_EMITTED_READABLE;
            stream.emit("readable");
          }
          if ((stream._duplexState & READ_PRIMARY_AND_ACTIVE) === 0) {
            this.updateNonPrimary();
          }
        } while (this.continueUpdate() === true);
        stream._duplexState &= READ_NOT_UPDATING;
      }
      updateNonPrimary() {
        const stream = this.stream;
        if ((stream._duplexState & READ_ENDING_STATUS) === READ_ENDING) {
          stream._duplexState = (stream._duplexState | READ_DONE) & READ_NOT_ENDING;
          stream.emit("end");
          if ((stream._duplexState & AUTO_DESTROY) === DONE) {
            stream._duplexState |= DESTROYING;
          }
          if (this.pipeTo !== null) {
            this.pipeTo.end();
          }
        }
        if ((stream._duplexState & DESTROY_STATUS) === DESTROYING) {
          if ((stream._duplexState & ACTIVE_OR_TICKING) === 0) {
            stream._duplexState |= ACTIVE;
            stream._destroy(afterDestroy.bind(this));
          }
          return;
        }
        if ((stream._duplexState & IS_OPENING) === OPENING) {
          stream._duplexState = (stream._duplexState | ACTIVE) & NOT_OPENING;
          stream._open(afterOpen.bind(this));
        }
      }
      continueUpdate() {
        if ((this.stream._duplexState & READ_NEXT_TICK) === 0) return false;
        this.stream._duplexState &= READ_NOT_NEXT_TICK;
        return true;
      }
      updateCallback() {
        if ((this.stream._duplexState & READ_UPDATE_SYNC_STATUS) === READ_PRIMARY) {
          this.update();
        } else {
          this.updateNextTick();
        }
      }
      updateNextTickIfOpen() {
        if ((this.stream._duplexState & READ_NEXT_TICK_OR_OPENING) !== 0) return;
        this.stream._duplexState |= READ_NEXT_TICK;
        if ((this.stream._duplexState & READ_UPDATING) === 0) qmt(this.afterUpdateNextTick);
      }
      updateNextTick() {
        if ((this.stream._duplexState & READ_NEXT_TICK) !== 0) return;
        this.stream._duplexState |= READ_NEXT_TICK;
        if ((this.stream._duplexState & READ_UPDATING) === 0) qmt(this.afterUpdateNextTick);
      }
    };
    var TransformState = class {
      constructor(stream) {
        this.data = null;
        this.afterTransform = afterTransform.bind(stream);
        this.afterFinal = null;
      }
    };
    var Pipeline = class {
      constructor(src, dst, cb) {
        this.from = src;
        this.to = dst;
        this.afterPipe = cb;
        this.error = null;
        this.pipeToFinished = false;
      }
      finished() {
        this.pipeToFinished = true;
      }
      done(stream, err) {
        if (err) this.error = err;
        if (stream === this.to) {
          this.to = null;
          if (this.from !== null) {
            if ((this.from._duplexState & READ_DONE) === 0 || !this.pipeToFinished) {
              this.from.destroy(this.error || StreamError.PREMATURE_CLOSE("Writable stream closed"));
            }
            return;
          }
        }
        if (stream === this.from) {
          this.from = null;
          if (this.to !== null) {
            if ((stream._duplexState & READ_DONE) === 0) {
              this.to.destroy(this.error || StreamError.PREMATURE_CLOSE("Readable stream closed"));
            }
            return;
          }
        }
        if (this.afterPipe !== null) this.afterPipe(this.error);
        this.to = this.from = this.afterPipe = null;
      }
    };
    function afterDrain() {
      this.stream._duplexState |= READ_PIPE_DRAINED;
      this.updateCallback();
    }
    function afterFinal(err) {
      const stream = this.stream;
      if (err) stream.destroy(err);
      if ((stream._duplexState & DESTROY_STATUS) === 0) {
        stream._duplexState |= WRITE_DONE;
        stream.emit("finish");
      }
      if ((stream._duplexState & AUTO_DESTROY) === DONE) {
        stream._duplexState |= DESTROYING;
      }
      stream._duplexState &= WRITE_NOT_FINISHING;
      if ((stream._duplexState & WRITE_UPDATING) === 0) {
        this.update();
      } else {
        this.updateNextTick();
      }
    }
    function afterDestroy(err) {
      const stream = this.stream;
      if (!err && !StreamError.isStreamDestroyed(this.error)) err = this.error;
      if (err) stream.emit("error", err);
      stream._duplexState |= DESTROYED;
      stream.emit("close");
      const rs = stream._readableState;
      const ws = stream._writableState;
      if (rs !== null && rs.pipeline !== null) {
        rs.pipeline.done(stream, err);
      }
      if (ws !== null) {
        while (ws.drains !== null && ws.drains.length > 0) {
          ws.drains.shift().resolve(false);
        }
        if (ws.pipeline !== null) {
          ws.pipeline.done(stream, err);
        }
      }
    }
    function afterWrite(err) {
      const stream = this.stream;
      if (err) stream.destroy(err);
      stream._duplexState &= WRITE_NOT_ACTIVE;
      if (this.drains !== null) tickDrains(this.drains);
      if ((stream._duplexState & WRITE_DRAIN_STATUS) === WRITE_UNDRAINED) {
        stream._duplexState &= WRITE_DRAINED;
        if ((stream._duplexState & WRITE_EMIT_DRAIN) === WRITE_EMIT_DRAIN) {
          stream.emit("drain");
        }
      }
      this.updateCallback();
    }
    function afterRead(err) {
      if (err) this.stream.destroy(err);
      this.stream._duplexState &= READ_NOT_ACTIVE;
      if (this.readAhead === false && (this.stream._duplexState & READ_RESUMED) === 0) {
        this.stream._duplexState &= READ_NO_READ_AHEAD;
      }
      this.updateCallback();
    }
    function updateReadNT() {
      if ((this.stream._duplexState & READ_UPDATING) === 0) {
        this.stream._duplexState &= READ_NOT_NEXT_TICK;
        this.update();
      }
    }
    function updateWriteNT() {
      if ((this.stream._duplexState & WRITE_UPDATING) === 0) {
        this.stream._duplexState &= WRITE_NOT_NEXT_TICK;
        this.update();
      }
    }
    function tickDrains(drains) {
      for (let i = 0; i < drains.length; i++) {
        if (--drains[i].writes === 0) {
          drains.shift().resolve(true);
          i--;
        }
      }
    }
    function afterOpen(err) {
      const stream = this.stream;
      if (err) stream.destroy(err);
      if ((stream._duplexState & DESTROYING) === 0) {
        if ((stream._duplexState & READ_PRIMARY_STATUS) === 0) {
          stream._duplexState |= READ_PRIMARY;
        }
        if ((stream._duplexState & WRITE_PRIMARY_STATUS) === 0) {
          stream._duplexState |= WRITE_PRIMARY;
        }
        stream.emit("open");
      }
      stream._duplexState &= NOT_ACTIVE;
      if (stream._writableState !== null) {
        stream._writableState.updateCallback();
      }
      if (stream._readableState !== null) {
        stream._readableState.updateCallback();
      }
    }
    function afterTransform(err, data) {
      if (data !== void 0 && data !== null) this.push(data);
      this._writableState.afterWrite(err);
    }
    function newListener(name) {
      if (this._readableState !== null) {
        if (name === "data") {
          this._duplexState |= READ_EMIT_DATA | READ_RESUMED_READ_AHEAD;
          this._readableState.updateNextTick();
        }
        if (name === "readable") {
          this._duplexState |= READ_EMIT_READABLE;
          this._readableState.updateNextTick();
        }
      }
      if (this._writableState !== null) {
        if (name === "drain") {
          this._duplexState |= WRITE_EMIT_DRAIN;
          this._writableState.updateNextTick();
        }
      }
    }
    var Stream = class extends EventEmitter {
      constructor(opts) {
        super();
        this._duplexState = 0;
        this._readableState = null;
        this._writableState = null;
        if (opts) {
          if (opts.open) this._open = opts.open;
          if (opts.destroy) this._destroy = opts.destroy;
          if (opts.predestroy) this._predestroy = opts.predestroy;
          if (opts.signal) opts.signal.addEventListener("abort", abort.bind(this));
        }
        this.on("newListener", newListener);
      }
      _open(cb) {
        cb(null);
      }
      _destroy(cb) {
        cb(null);
      }
      _predestroy() {
      }
      get readable() {
        return this._readableState !== null ? true : void 0;
      }
      get writable() {
        return this._writableState !== null ? true : void 0;
      }
      get destroyed() {
        return (this._duplexState & DESTROYED) !== 0;
      }
      get destroying() {
        return (this._duplexState & DESTROY_STATUS) !== 0;
      }
      destroy(err) {
        if ((this._duplexState & DESTROY_STATUS) === 0) {
          if (!err) err = StreamError.STREAM_DESTROYED();
          this._duplexState = (this._duplexState | DESTROYING) & NON_PRIMARY;
          if (this._readableState !== null) {
            this._readableState.highWaterMark = 0;
            this._readableState.error = err;
          }
          if (this._writableState !== null) {
            this._writableState.highWaterMark = 0;
            this._writableState.error = err;
          }
          this._duplexState |= PREDESTROYING;
          this._predestroy();
          this._duplexState &= NOT_PREDESTROYING;
          if (this._readableState !== null) {
            this._readableState.updateNextTick();
          }
          if (this._writableState !== null) {
            this._writableState.updateNextTick();
          }
        }
      }
    };
    var Readable12 = class _Readable extends Stream {
      constructor(opts) {
        super(opts);
        this._duplexState |= OPENING | WRITE_DONE | READ_READ_AHEAD;
        this._readableState = new ReadableState(this, opts);
        if (opts) {
          if (this._readableState.readAhead === false) this._duplexState &= READ_NO_READ_AHEAD;
          if (opts.read) this._read = opts.read;
          if (opts.eagerOpen) this._readableState.updateNextTick();
          if (opts.encoding) this.setEncoding(opts.encoding);
        }
      }
      static deferred(fn, opts) {
        const out = new PassThrough3(opts);
        fn().then((src) => {
          if (src === null) return out.end();
          if (out.destroying) return;
          pipeline9(src, out, noop);
        }).catch((err) => out.destroy(err));
        return out;
      }
      setEncoding(encoding) {
        const dec = new TextDecoder(encoding);
        const map = this._readableState.map || echo;
        this._readableState.map = mapOrSkip;
        return this;
        function mapOrSkip(data) {
          const next = dec.push(data);
          return next === "" && (data.byteLength !== 0 || dec.remaining > 0) ? null : map(next);
        }
      }
      _read(cb) {
        cb(null);
      }
      pipe(dest, cb) {
        this._readableState.updateNextTick();
        this._readableState.pipe(dest, cb);
        return dest;
      }
      read() {
        this._readableState.updateNextTick();
        return this._readableState.read();
      }
      push(data) {
        this._readableState.updateNextTickIfOpen();
        return this._readableState.push(data);
      }
      unshift(data) {
        this._readableState.updateNextTickIfOpen();
        return this._readableState.unshift(data);
      }
      resume() {
        this._duplexState |= READ_RESUMED_READ_AHEAD;
        this._readableState.updateNextTick();
        return this;
      }
      pause() {
        this._duplexState &= this._readableState.readAhead === false ? READ_PAUSED_NO_READ_AHEAD : READ_PAUSED;
        return this;
      }
      static _fromAsyncIterator(ite, opts) {
        let destroy;
        const rs = new _Readable({
          ...opts,
          read(cb) {
            ite.next().then(push).then(cb.bind(null, null)).catch(cb);
          },
          predestroy() {
            destroy = ite.return();
          },
          destroy(cb) {
            if (!destroy) return cb(null);
            destroy.then(cb.bind(null, null)).catch(cb);
          }
        });
        return rs;
        function push(data) {
          if (data.done) rs.push(null);
          else rs.push(data.value);
        }
      }
      static from(data, opts) {
        if (isReadStreamx(data)) return data;
        if (data[asyncIterator]) return this._fromAsyncIterator(data[asyncIterator](), opts);
        if (!Array.isArray(data)) data = data === void 0 ? [] : [data];
        let i = 0;
        return new _Readable({
          ...opts,
          read(cb) {
            this.push(i === data.length ? null : data[i++]);
            cb(null);
          }
        });
      }
      static isBackpressured(rs) {
        return (rs._duplexState & READ_BACKPRESSURE_STATUS) !== 0 || rs._readableState.buffered >= rs._readableState.highWaterMark;
      }
      static isPaused(rs) {
        return (rs._duplexState & READ_RESUMED) === 0;
      }
      [asyncIterator]() {
        const stream = this;
        let error = null;
        let promiseResolve = null;
        let promiseReject = null;
        this.on("error", (err) => {
          error = err;
        });
        this.on("readable", onreadable);
        this.on("close", onclose);
        return {
          [asyncIterator]() {
            return this;
          },
          next() {
            return new Promise(function(resolve5, reject) {
              promiseResolve = resolve5;
              promiseReject = reject;
              const data = stream.read();
              if (data !== null) ondata(data);
              else if ((stream._duplexState & DESTROYED) !== 0) ondata(null);
            });
          },
          return() {
            return destroy(null);
          },
          throw(err) {
            return destroy(err);
          }
        };
        function onreadable() {
          if (promiseResolve !== null) ondata(stream.read());
        }
        function onclose() {
          if (promiseResolve !== null) ondata(null);
        }
        function ondata(data) {
          if (promiseReject === null) return;
          if (error) {
            promiseReject(error);
          } else if (data === null && (stream._duplexState & READ_DONE) === 0) {
            promiseReject(StreamError.STREAM_DESTROYED());
          } else {
            promiseResolve({ value: data, done: data === null });
          }
          promiseReject = promiseResolve = null;
        }
        function destroy(err) {
          stream.destroy(err);
          return new Promise((resolve5, reject) => {
            if (stream._duplexState & DESTROYED) return resolve5({ value: void 0, done: true });
            stream.once("close", function() {
              if (err) reject(err);
              else resolve5({ value: void 0, done: true });
            });
          });
        }
      }
    };
    var Writable = class extends Stream {
      constructor(opts) {
        super(opts);
        this._duplexState |= OPENING | READ_DONE;
        this._writableState = new WritableState(this, opts);
        if (opts) {
          if (opts.writev) this._writev = opts.writev;
          if (opts.write) this._write = opts.write;
          if (opts.final) this._final = opts.final;
          if (opts.eagerOpen) this._writableState.updateNextTick();
        }
      }
      cork() {
        this._duplexState |= WRITE_CORKED;
      }
      uncork() {
        this._duplexState &= WRITE_NOT_CORKED;
        this._writableState.updateNextTick();
      }
      _writev(batch, cb) {
        cb(null);
      }
      _write(data, cb) {
        this._writableState.autoBatch(data, cb);
      }
      _final(cb) {
        cb(null);
      }
      static isBackpressured(ws) {
        return (ws._duplexState & WRITE_BACKPRESSURE_STATUS) !== 0;
      }
      static drained(ws) {
        if (ws.destroyed) return Promise.resolve(false);
        const state = ws._writableState;
        const pending2 = isWritev(ws) ? Math.min(1, state.queue.length) : state.queue.length;
        const writes = pending2 + (ws._duplexState & WRITE_WRITING ? 1 : 0);
        if (writes === 0) return Promise.resolve(true);
        if (state.drains === null) state.drains = [];
        return new Promise((resolve5) => {
          state.drains.push({ writes, resolve: resolve5 });
        });
      }
      write(data) {
        this._writableState.updateNextTick();
        return this._writableState.push(data);
      }
      end(data) {
        this._writableState.updateNextTick();
        this._writableState.end(data);
        return this;
      }
    };
    var Duplex2 = class extends Readable12 {
      // and Writable
      constructor(opts) {
        super(opts);
        this._duplexState = OPENING | this._duplexState & READ_READ_AHEAD;
        this._writableState = new WritableState(this, opts);
        if (opts) {
          if (opts.writev) this._writev = opts.writev;
          if (opts.write) this._write = opts.write;
          if (opts.final) this._final = opts.final;
        }
      }
      cork() {
        this._duplexState |= WRITE_CORKED;
      }
      uncork() {
        this._duplexState &= WRITE_NOT_CORKED;
        this._writableState.updateNextTick();
      }
      _writev(batch, cb) {
        cb(null);
      }
      _write(data, cb) {
        this._writableState.autoBatch(data, cb);
      }
      _final(cb) {
        cb(null);
      }
      write(data) {
        this._writableState.updateNextTick();
        return this._writableState.push(data);
      }
      end(data) {
        this._writableState.updateNextTick();
        this._writableState.end(data);
        return this;
      }
    };
    var Transform4 = class extends Duplex2 {
      constructor(opts) {
        super(opts);
        this._transformState = new TransformState(this);
        if (opts) {
          if (opts.transform) this._transform = opts.transform;
          if (opts.flush) this._flush = opts.flush;
        }
      }
      _write(data, cb) {
        if (this._readableState.buffered >= this._readableState.highWaterMark) {
          this._transformState.data = data;
        } else {
          this._transform(data, this._transformState.afterTransform);
        }
      }
      _read(cb) {
        if (this._transformState.data !== null) {
          const data = this._transformState.data;
          this._transformState.data = null;
          cb(null);
          this._transform(data, this._transformState.afterTransform);
        } else {
          cb(null);
        }
      }
      destroy(err) {
        super.destroy(err);
        if (this._transformState.data !== null) {
          this._transformState.data = null;
          this._transformState.afterTransform();
        }
      }
      _transform(data, cb) {
        cb(null, data);
      }
      _flush(cb) {
        cb(null);
      }
      _final(cb) {
        this._transformState.afterFinal = cb;
        this._flush(transformAfterFlush.bind(this));
      }
    };
    var PassThrough3 = class extends Transform4 {
    };
    function transformAfterFlush(err, data) {
      const cb = this._transformState.afterFinal;
      if (err) return cb(err);
      if (data !== null && data !== void 0) this.push(data);
      this.push(null);
      cb(null);
    }
    function pipelinePromise(...streams) {
      return new Promise((resolve5, reject) => {
        return pipeline9(...streams, (err) => {
          if (err) return reject(err);
          resolve5();
        });
      });
    }
    function pipeline9(stream, ...streams) {
      const all = Array.isArray(stream) ? [...stream, ...streams] : [stream, ...streams];
      const done = all.length && typeof all[all.length - 1] === "function" ? all.pop() : null;
      if (all.length < 2) throw StreamError.BAD_ARGUMENT("Pipeline requires at least 2 streams");
      let src = all[0];
      let dest = null;
      let error = null;
      for (let i = 1; i < all.length; i++) {
        dest = all[i];
        if (isStreamx(src)) {
          src.pipe(dest, onerror);
        } else {
          errorHandle(src, true, i > 1, onerror);
          src.pipe(dest);
        }
        src = dest;
      }
      if (done) {
        let fin = false;
        const autoDestroy = isStreamx(dest) || !!(dest._writableState && dest._writableState.autoDestroy);
        dest.on("error", (err) => {
          if (error === null) error = err;
        });
        dest.on("finish", () => {
          fin = true;
          if (!autoDestroy) done(error);
        });
        if (autoDestroy) {
          dest.on("close", () => done(error || (fin ? null : StreamError.PREMATURE_CLOSE())));
        }
      }
      return dest;
      function errorHandle(s, rd, wr, onerror2) {
        s.on("error", onerror2);
        s.on("close", onclose);
        function onclose() {
          if (rd && s._readableState && !s._readableState.ended) {
            return onerror2(StreamError.PREMATURE_CLOSE());
          }
          if (wr && s._writableState && !s._writableState.ended) {
            return onerror2(StreamError.PREMATURE_CLOSE());
          }
        }
      }
      function onerror(err) {
        if (!err || error) return;
        error = err;
        for (const s of all) {
          s.destroy(err);
        }
      }
    }
    function echo(s) {
      return s;
    }
    function isStream(stream) {
      return !!stream._readableState || !!stream._writableState;
    }
    function isStreamx(stream) {
      return typeof stream._duplexState === "number" && isStream(stream);
    }
    function isEnding(stream) {
      return !!stream._readableState && stream._readableState.ending;
    }
    function isEnded(stream) {
      return !!stream._readableState && stream._readableState.ended;
    }
    function isFinishing(stream) {
      return !!stream._writableState && stream._writableState.ending;
    }
    function isFinished(stream) {
      return !!stream._writableState && stream._writableState.ended;
    }
    function getStreamError(stream, opts = {}) {
      const err = stream._readableState && stream._readableState.error || stream._writableState && stream._writableState.error;
      return !opts.all && StreamError.isStreamDestroyed(err) ? null : err;
    }
    function isReadStreamx(stream) {
      return isStreamx(stream) && stream.readable;
    }
    function isDisturbed(stream) {
      return (stream._duplexState & OPENING) !== OPENING || (stream._duplexState & DESTROYING) === DESTROYING || (stream._duplexState & ACTIVE_OR_TICKING) !== 0;
    }
    function isTypedArray(data) {
      return typeof data === "object" && data !== null && typeof data.byteLength === "number";
    }
    function defaultByteLength(data) {
      return isTypedArray(data) ? data.byteLength : 1024;
    }
    function noop() {
    }
    function abort() {
      this.destroy(StreamError.ABORTED());
    }
    function isWritev(s) {
      return s._writev !== Writable.prototype._writev && s._writev !== Duplex2.prototype._writev;
    }
    module2.exports = {
      pipeline: pipeline9,
      pipelinePromise,
      isStream,
      isStreamx,
      isEnding,
      isEnded,
      isFinishing,
      isFinished,
      isDisturbed,
      getStreamError,
      Stream,
      Writable,
      Readable: Readable12,
      Duplex: Duplex2,
      Transform: Transform4,
      // Export PassThrough for compatibility with Node.js core's stream module
      PassThrough: PassThrough3
    };
  }
});

// node_modules/tar-stream/headers.js
var require_headers = __commonJS({
  "node_modules/tar-stream/headers.js"(exports2) {
    var b4a = require_b4a();
    var ZEROS = "0000000000000000000";
    var SEVENS = "7777777777777777777";
    var ZERO_OFFSET = "0".charCodeAt(0);
    var USTAR_MAGIC = b4a.from([117, 115, 116, 97, 114, 0]);
    var USTAR_VER = b4a.from([ZERO_OFFSET, ZERO_OFFSET]);
    var GNU_MAGIC = b4a.from([117, 115, 116, 97, 114, 32]);
    var GNU_VER = b4a.from([32, 0]);
    var MASK = 4095;
    var MAGIC_OFFSET = 257;
    var VERSION_OFFSET = 263;
    exports2.decodeLongPath = function decodeLongPath(buf, encoding) {
      return decodeStr(buf, 0, buf.length, encoding);
    };
    exports2.encodePax = function encodePax(opts) {
      let result = "";
      if (opts.name) result += addLength(" path=" + opts.name + "\n");
      if (opts.linkname) result += addLength(" linkpath=" + opts.linkname + "\n");
      const pax = opts.pax;
      if (pax) {
        for (const key in pax) {
          result += addLength(" " + key + "=" + pax[key] + "\n");
        }
      }
      return b4a.from(result);
    };
    exports2.decodePax = function decodePax(buf) {
      const result = {};
      while (buf.length) {
        let i = 0;
        while (i < buf.length && buf[i] !== 32) i++;
        const len = parseInt(b4a.toString(buf.subarray(0, i)), 10);
        if (!len) return result;
        const b = b4a.toString(buf.subarray(i + 1, len - 1));
        const keyIndex = b.indexOf("=");
        if (keyIndex === -1) return result;
        result[b.slice(0, keyIndex)] = b.slice(keyIndex + 1);
        buf = buf.subarray(len);
      }
      return result;
    };
    exports2.encode = function encode(opts) {
      const buf = b4a.alloc(512);
      let name = opts.name;
      let prefix = "";
      if (opts.typeflag === 5 && name[name.length - 1] !== "/") name += "/";
      if (b4a.byteLength(name) !== name.length) return null;
      while (b4a.byteLength(name) > 100) {
        const i = name.indexOf("/");
        if (i === -1) return null;
        prefix += prefix ? "/" + name.slice(0, i) : name.slice(0, i);
        name = name.slice(i + 1);
      }
      if (b4a.byteLength(name) > 100 || b4a.byteLength(prefix) > 155) return null;
      if (opts.linkname && b4a.byteLength(opts.linkname) > 100) return null;
      b4a.write(buf, name);
      b4a.write(buf, encodeOct(opts.mode & MASK, 6), 100);
      b4a.write(buf, encodeOct(opts.uid, 6), 108);
      b4a.write(buf, encodeOct(opts.gid, 6), 116);
      encodeSize(opts.size, buf, 124);
      b4a.write(buf, encodeOct(opts.mtime.getTime() / 1e3 | 0, 11), 136);
      buf[156] = ZERO_OFFSET + toTypeflag(opts.type);
      if (opts.linkname) b4a.write(buf, opts.linkname, 157);
      b4a.copy(USTAR_MAGIC, buf, MAGIC_OFFSET);
      b4a.copy(USTAR_VER, buf, VERSION_OFFSET);
      if (opts.uname) b4a.write(buf, opts.uname, 265);
      if (opts.gname) b4a.write(buf, opts.gname, 297);
      b4a.write(buf, encodeOct(opts.devmajor || 0, 6), 329);
      b4a.write(buf, encodeOct(opts.devminor || 0, 6), 337);
      if (prefix) b4a.write(buf, prefix, 345);
      b4a.write(buf, encodeOct(cksum(buf), 6), 148);
      return buf;
    };
    exports2.decode = function decode(buf, filenameEncoding, allowUnknownFormat) {
      let typeflag = buf[156] === 0 ? 0 : buf[156] - ZERO_OFFSET;
      let name = decodeStr(buf, 0, 100, filenameEncoding);
      const mode = decodeOct(buf, 100, 8);
      const uid = decodeOct(buf, 108, 8);
      const gid = decodeOct(buf, 116, 8);
      const size = decodeOct(buf, 124, 12);
      const mtime = decodeOct(buf, 136, 12);
      const type = toType(typeflag);
      const linkname = buf[157] === 0 ? null : decodeStr(buf, 157, 100, filenameEncoding);
      const uname = decodeStr(buf, 265, 32);
      const gname = decodeStr(buf, 297, 32);
      const devmajor = decodeOct(buf, 329, 8);
      const devminor = decodeOct(buf, 337, 8);
      const c = cksum(buf);
      if (c === 8 * 32) return null;
      if (c !== decodeOct(buf, 148, 8)) throw new Error("Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?");
      if (isUSTAR(buf)) {
        if (buf[345]) name = decodeStr(buf, 345, 155, filenameEncoding) + "/" + name;
      } else if (isGNU(buf)) {
      } else {
        if (!allowUnknownFormat) {
          throw new Error("Invalid tar header: unknown format.");
        }
      }
      if (typeflag === 0 && name && name[name.length - 1] === "/") typeflag = 5;
      return {
        name,
        mode,
        uid,
        gid,
        size,
        byteOffset: 0,
        mtime: new Date(1e3 * mtime),
        type,
        linkname,
        uname,
        gname,
        devmajor,
        devminor,
        pax: null
      };
    };
    function isUSTAR(buf) {
      return b4a.equals(USTAR_MAGIC, buf.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 6));
    }
    function isGNU(buf) {
      return b4a.equals(GNU_MAGIC, buf.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 6)) && b4a.equals(GNU_VER, buf.subarray(VERSION_OFFSET, VERSION_OFFSET + 2));
    }
    function clamp(index, len, defaultValue) {
      if (typeof index !== "number") return defaultValue;
      index = ~~index;
      if (index >= len) return len;
      if (index >= 0) return index;
      index += len;
      if (index >= 0) return index;
      return 0;
    }
    function toType(flag) {
      switch (flag) {
        case 0:
          return "file";
        case 1:
          return "link";
        case 2:
          return "symlink";
        case 3:
          return "character-device";
        case 4:
          return "block-device";
        case 5:
          return "directory";
        case 6:
          return "fifo";
        case 7:
          return "contiguous-file";
        case 72:
          return "pax-header";
        case 55:
          return "pax-global-header";
        case 27:
          return "gnu-long-link-path";
        case 28:
        case 30:
          return "gnu-long-path";
      }
      return null;
    }
    function toTypeflag(flag) {
      switch (flag) {
        case "file":
          return 0;
        case "link":
          return 1;
        case "symlink":
          return 2;
        case "character-device":
          return 3;
        case "block-device":
          return 4;
        case "directory":
          return 5;
        case "fifo":
          return 6;
        case "contiguous-file":
          return 7;
        case "pax-header":
          return 72;
      }
      return 0;
    }
    function indexOf(block, num, offset, end) {
      for (; offset < end; offset++) {
        if (block[offset] === num) return offset;
      }
      return end;
    }
    function cksum(block) {
      let sum = 8 * 32;
      for (let i = 0; i < 148; i++) sum += block[i];
      for (let j = 156; j < 512; j++) sum += block[j];
      return sum;
    }
    function encodeOct(val, n) {
      val = val.toString(8);
      if (val.length > n) return SEVENS.slice(0, n) + " ";
      return ZEROS.slice(0, n - val.length) + val + " ";
    }
    function encodeSizeBin(num, buf, off) {
      buf[off] = 128;
      for (let i = 11; i > 0; i--) {
        buf[off + i] = num & 255;
        num = Math.floor(num / 256);
      }
    }
    function encodeSize(num, buf, off) {
      if (num.toString(8).length > 11) {
        encodeSizeBin(num, buf, off);
      } else {
        b4a.write(buf, encodeOct(num, 11), off);
      }
    }
    function parse256(buf) {
      let positive;
      if (buf[0] === 128) positive = true;
      else if (buf[0] === 255) positive = false;
      else return null;
      const tuple = [];
      let i;
      for (i = buf.length - 1; i > 0; i--) {
        const byte = buf[i];
        if (positive) tuple.push(byte);
        else tuple.push(255 - byte);
      }
      let sum = 0;
      const l = tuple.length;
      for (i = 0; i < l; i++) {
        sum += tuple[i] * Math.pow(256, i);
      }
      return positive ? sum : -1 * sum;
    }
    function decodeOct(val, offset, length) {
      val = val.subarray(offset, offset + length);
      offset = 0;
      if (val[offset] & 128) {
        return parse256(val);
      } else {
        while (offset < val.length && val[offset] === 32) offset++;
        const end = clamp(indexOf(val, 32, offset, val.length), val.length, val.length);
        while (offset < end && val[offset] === 0) offset++;
        if (end === offset) return 0;
        return parseInt(b4a.toString(val.subarray(offset, end)), 8);
      }
    }
    function decodeStr(val, offset, length, encoding) {
      return b4a.toString(val.subarray(offset, indexOf(val, 0, offset, offset + length)), encoding);
    }
    function addLength(str) {
      const len = b4a.byteLength(str);
      let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
      if (len + digits >= Math.pow(10, digits)) digits++;
      return len + digits + str;
    }
  }
});

// node_modules/tar-stream/extract.js
var require_extract = __commonJS({
  "node_modules/tar-stream/extract.js"(exports2, module2) {
    var { Writable, Readable: Readable12, getStreamError } = require_streamx();
    var FIFO = require_fast_fifo();
    var b4a = require_b4a();
    var headers = require_headers();
    var EMPTY = b4a.alloc(0);
    var MAX_HEADER_SIZE = 4 * 1024 * 1024;
    var BufferList = class {
      constructor() {
        this.buffered = 0;
        this.shifted = 0;
        this.queue = new FIFO();
        this._offset = 0;
      }
      push(buffer) {
        this.buffered += buffer.byteLength;
        this.queue.push(buffer);
      }
      shiftFirst(size) {
        return this.buffered === 0 ? null : this._next(size);
      }
      shift(size) {
        if (size > this.buffered) return null;
        if (size === 0) return EMPTY;
        let chunk = this._next(size);
        if (size === chunk.byteLength) return chunk;
        const chunks = [chunk];
        while ((size -= chunk.byteLength) > 0) {
          chunk = this._next(size);
          chunks.push(chunk);
        }
        return b4a.concat(chunks);
      }
      _next(size) {
        const buf = this.queue.peek();
        const rem = buf.byteLength - this._offset;
        if (size >= rem) {
          const sub = this._offset ? buf.subarray(this._offset, buf.byteLength) : buf;
          this.queue.shift();
          this._offset = 0;
          this.buffered -= rem;
          this.shifted += rem;
          return sub;
        }
        this.buffered -= size;
        this.shifted += size;
        return buf.subarray(this._offset, this._offset += size);
      }
    };
    var Source = class extends Readable12 {
      constructor(self, header, offset) {
        super();
        this.header = header;
        this.offset = offset;
        this._parent = self;
      }
      _read(cb) {
        if (this.header.size === 0) {
          this.push(null);
        }
        if (this._parent._stream === this) {
          this._parent._update();
        }
        cb(null);
      }
      _predestroy() {
        this._parent.destroy(getStreamError(this));
      }
      _detach() {
        if (this._parent._stream === this) {
          this._parent._stream = null;
          this._parent._missing = overflow(this.header.size);
          this._parent._update();
        }
      }
      _destroy(cb) {
        this._detach();
        cb(null);
      }
    };
    var Extract = class extends Writable {
      constructor(opts) {
        super(opts);
        if (!opts) opts = {};
        this._buffer = new BufferList();
        this._offset = 0;
        this._header = null;
        this._stream = null;
        this._missing = 0;
        this._longHeader = false;
        this._callback = noop;
        this._locked = false;
        this._finished = false;
        this._pax = null;
        this._paxGlobal = null;
        this._gnuLongPath = null;
        this._gnuLongLinkPath = null;
        this._filenameEncoding = opts.filenameEncoding || "utf-8";
        this._allowUnknownFormat = !!opts.allowUnknownFormat;
        this._unlockBound = this._unlock.bind(this);
      }
      _unlock(err) {
        this._locked = false;
        if (err) {
          this.destroy(err);
          this._continueWrite(err);
          return;
        }
        this._update();
      }
      _consumeHeader() {
        if (this._locked) return false;
        this._offset = this._buffer.shifted;
        try {
          this._header = headers.decode(this._buffer.shift(512), this._filenameEncoding, this._allowUnknownFormat);
        } catch (err) {
          this._continueWrite(err);
          return false;
        }
        if (!this._header) return true;
        this._header.byteOffset = this._buffer.shifted;
        switch (this._header.type) {
          case "gnu-long-path":
          case "gnu-long-link-path":
          case "pax-global-header":
          case "pax-header":
            this._longHeader = true;
            this._missing = this._header.size;
            if (this._missing > MAX_HEADER_SIZE) {
              this._continueWrite(new Error("Header exceeds max size"));
              return false;
            }
            return true;
        }
        this._locked = true;
        this._applyLongHeaders();
        if (!(this._header.size >= 0)) {
          this._continueWrite(new Error("Invalid header"));
          return false;
        }
        if (this._header.size === 0 || this._header.type === "directory") {
          this.emit("entry", this._header, this._createStream(), this._unlockBound);
          return true;
        }
        this._stream = this._createStream();
        this._missing = this._header.size;
        this.emit("entry", this._header, this._stream, this._unlockBound);
        return true;
      }
      _applyLongHeaders() {
        if (this._gnuLongPath) {
          this._header.name = this._gnuLongPath;
          this._gnuLongPath = null;
        }
        if (this._gnuLongLinkPath) {
          this._header.linkname = this._gnuLongLinkPath;
          this._gnuLongLinkPath = null;
        }
        if (this._pax) {
          if (this._pax.path) this._header.name = this._pax.path;
          if (this._pax.linkpath) this._header.linkname = this._pax.linkpath;
          if (this._pax.size) this._header.size = parseInt(this._pax.size, 10);
          this._header.pax = this._pax;
          this._pax = null;
        }
      }
      _decodeLongHeader(buf) {
        switch (this._header.type) {
          case "gnu-long-path":
            this._gnuLongPath = headers.decodeLongPath(buf, this._filenameEncoding);
            break;
          case "gnu-long-link-path":
            this._gnuLongLinkPath = headers.decodeLongPath(buf, this._filenameEncoding);
            break;
          case "pax-global-header":
            this._paxGlobal = headers.decodePax(buf);
            break;
          case "pax-header":
            this._pax = this._paxGlobal === null ? headers.decodePax(buf) : Object.assign({}, this._paxGlobal, headers.decodePax(buf));
            break;
        }
      }
      _consumeLongHeader() {
        this._longHeader = false;
        this._missing = overflow(this._header.size);
        const buf = this._buffer.shift(this._header.size);
        try {
          this._decodeLongHeader(buf);
        } catch (err) {
          this._continueWrite(err);
          return false;
        }
        return true;
      }
      _consumeStream() {
        const buf = this._buffer.shiftFirst(this._missing);
        if (buf === null) return false;
        this._missing -= buf.byteLength;
        const drained = this._stream.push(buf);
        if (this._missing === 0) {
          this._stream.push(null);
          if (drained) this._stream._detach();
          return drained && this._locked === false;
        }
        return drained;
      }
      _createStream() {
        return new Source(this, this._header, this._offset);
      }
      _update() {
        while (this._buffer.buffered > 0 && !this.destroying) {
          if (this._missing > 0) {
            if (this._stream !== null) {
              if (this._consumeStream() === false) return;
              continue;
            }
            if (this._longHeader === true) {
              if (this._missing > this._buffer.buffered) break;
              if (this._consumeLongHeader() === false) return false;
              continue;
            }
            const ignore = this._buffer.shiftFirst(this._missing);
            if (ignore !== null) this._missing -= ignore.byteLength;
            continue;
          }
          if (this._buffer.buffered < 512) break;
          if (this._stream !== null || this._consumeHeader() === false) return;
        }
        this._continueWrite(null);
      }
      _continueWrite(err) {
        const cb = this._callback;
        this._callback = noop;
        cb(err);
      }
      _write(data, cb) {
        this._callback = cb;
        this._buffer.push(data);
        this._update();
      }
      _final(cb) {
        this._finished = this._missing === 0 && this._buffer.buffered === 0;
        cb(this._finished ? null : new Error("Unexpected end of data"));
      }
      _predestroy() {
        this._continueWrite(null);
      }
      _destroy(cb) {
        if (this._stream) this._stream.destroy(getStreamError(this));
        cb(null);
      }
      [Symbol.asyncIterator]() {
        let error = null;
        let promiseResolve = null;
        let promiseReject = null;
        let entryStream = null;
        let entryCallback = null;
        const extract2 = this;
        this.on("entry", onentry);
        this.on("error", (err) => {
          error = err;
        });
        this.on("close", onclose);
        return {
          [Symbol.asyncIterator]() {
            return this;
          },
          next() {
            return new Promise(onnext);
          },
          return() {
            return destroy(null);
          },
          throw(err) {
            return destroy(err);
          }
        };
        function consumeCallback(err) {
          if (!entryCallback) return;
          const cb = entryCallback;
          entryCallback = null;
          cb(err);
        }
        function onnext(resolve5, reject) {
          if (error) {
            return reject(error);
          }
          if (entryStream) {
            resolve5({ value: entryStream, done: false });
            entryStream = null;
            return;
          }
          promiseResolve = resolve5;
          promiseReject = reject;
          consumeCallback(null);
          if (extract2._finished && promiseResolve) {
            promiseResolve({ value: void 0, done: true });
            promiseResolve = promiseReject = null;
          }
        }
        function onentry(header, stream, callback) {
          entryCallback = callback;
          stream.on("error", noop);
          if (promiseResolve) {
            promiseResolve({ value: stream, done: false });
            promiseResolve = promiseReject = null;
          } else {
            entryStream = stream;
          }
        }
        function onclose() {
          consumeCallback(error);
          if (!promiseResolve) return;
          if (error) promiseReject(error);
          else promiseResolve({ value: void 0, done: true });
          promiseResolve = promiseReject = null;
        }
        function destroy(err) {
          extract2.destroy(err);
          consumeCallback(err);
          return new Promise((resolve5, reject) => {
            if (extract2.destroyed) return resolve5({ value: void 0, done: true });
            extract2.once("close", function() {
              if (err) reject(err);
              else resolve5({ value: void 0, done: true });
            });
          });
        }
      }
    };
    module2.exports = function extract2(opts) {
      return new Extract(opts);
    };
    function noop() {
    }
    function overflow(size) {
      size &= 511;
      return size && 512 - size;
    }
  }
});

// node_modules/tar-stream/constants.js
var require_constants = __commonJS({
  "node_modules/tar-stream/constants.js"(exports2, module2) {
    var constants4 = {
      // just for envs without fs
      S_IFMT: 61440,
      S_IFDIR: 16384,
      S_IFCHR: 8192,
      S_IFBLK: 24576,
      S_IFIFO: 4096,
      S_IFLNK: 40960
    };
    try {
      module2.exports = require("fs").constants || constants4;
    } catch {
      module2.exports = constants4;
    }
  }
});

// node_modules/tar-stream/pack.js
var require_pack = __commonJS({
  "node_modules/tar-stream/pack.js"(exports2, module2) {
    var { Readable: Readable12, Writable, getStreamError } = require_streamx();
    var b4a = require_b4a();
    var constants4 = require_constants();
    var headers = require_headers();
    var DMODE = 493;
    var FMODE = 420;
    var END_OF_TAR = b4a.alloc(1024);
    var Sink = class extends Writable {
      constructor(pack, header, callback) {
        super({ mapWritable, eagerOpen: true });
        this.written = 0;
        this.header = header;
        this._callback = callback;
        this._linkname = null;
        this._isLinkname = header.type === "symlink" && !header.linkname;
        this._isVoid = header.type !== "file" && header.type !== "contiguous-file";
        this._finished = false;
        this._pack = pack;
        this._openCallback = null;
        if (this._pack._stream === null) this._pack._stream = this;
        else this._pack._pending.push(this);
      }
      _open(cb) {
        this._openCallback = cb;
        if (this._pack._stream === this) this._continueOpen();
      }
      _continuePack(err) {
        if (this._callback === null) return;
        const callback = this._callback;
        this._callback = null;
        callback(err);
      }
      _continueOpen() {
        if (this._pack._stream === null) this._pack._stream = this;
        const cb = this._openCallback;
        this._openCallback = null;
        if (cb === null) return;
        if (this._pack.destroying) return cb(new Error("pack stream destroyed"));
        if (this._pack._finalized) return cb(new Error("pack stream is already finalized"));
        this._pack._stream = this;
        if (!this._isLinkname) {
          this._pack._encode(this.header);
        }
        if (this._isVoid) {
          this._finish();
          this._continuePack(null);
        }
        cb(null);
      }
      _write(data, cb) {
        if (this._isLinkname) {
          this._linkname = this._linkname ? b4a.concat([this._linkname, data]) : data;
          return cb(null);
        }
        if (this._isVoid) {
          if (data.byteLength > 0) {
            return cb(new Error("No body allowed for this entry"));
          }
          return cb();
        }
        this.written += data.byteLength;
        if (this._pack.push(data)) return cb();
        this._pack._drain = cb;
      }
      _finish() {
        if (this._finished) return;
        this._finished = true;
        if (this._isLinkname) {
          this.header.linkname = this._linkname ? b4a.toString(this._linkname, "utf-8") : "";
          this._pack._encode(this.header);
        }
        overflow(this._pack, this.header.size);
        this._pack._done(this);
      }
      _final(cb) {
        if (this.written !== this.header.size) {
          return cb(new Error("Size mismatch"));
        }
        this._finish();
        cb(null);
      }
      _getError() {
        return getStreamError(this) || new Error("tar entry destroyed");
      }
      _predestroy() {
        this._pack.destroy(this._getError());
      }
      _destroy(cb) {
        this._pack._done(this);
        this._continuePack(this._finished ? null : this._getError());
        cb();
      }
    };
    var Pack = class extends Readable12 {
      constructor(opts) {
        super(opts);
        this._drain = noop;
        this._finalized = false;
        this._finalizing = false;
        this._pending = [];
        this._stream = null;
      }
      entry(header, buffer, callback) {
        if (this._finalized || this.destroying) throw new Error("already finalized or destroyed");
        if (typeof buffer === "function") {
          callback = buffer;
          buffer = null;
        }
        if (!callback) callback = noop;
        if (!header.size || header.type === "symlink") header.size = 0;
        if (!header.type) header.type = modeToType(header.mode);
        if (!header.mode) header.mode = header.type === "directory" ? DMODE : FMODE;
        if (!header.uid) header.uid = 0;
        if (!header.gid) header.gid = 0;
        if (!header.mtime) header.mtime = /* @__PURE__ */ new Date();
        if (typeof buffer === "string") buffer = b4a.from(buffer);
        const sink = new Sink(this, header, callback);
        if (b4a.isBuffer(buffer)) {
          header.size = buffer.byteLength;
          sink.write(buffer);
          sink.end();
          return sink;
        }
        if (sink._isVoid) {
          return sink;
        }
        return sink;
      }
      finalize() {
        if (this._stream || this._pending.length > 0) {
          this._finalizing = true;
          return;
        }
        if (this._finalized) return;
        this._finalized = true;
        this.push(END_OF_TAR);
        this.push(null);
      }
      _done(stream) {
        if (stream !== this._stream) return;
        this._stream = null;
        if (this._finalizing) this.finalize();
        if (this._pending.length) this._pending.shift()._continueOpen();
      }
      _encode(header) {
        if (!header.pax) {
          const buf = headers.encode(header);
          if (buf) {
            this.push(buf);
            return;
          }
        }
        this._encodePax(header);
      }
      _encodePax(header) {
        const paxHeader = headers.encodePax({
          name: header.name,
          linkname: header.linkname,
          pax: header.pax
        });
        const newHeader = {
          name: "PaxHeader",
          mode: header.mode,
          uid: header.uid,
          gid: header.gid,
          size: paxHeader.byteLength,
          mtime: header.mtime,
          type: "pax-header",
          linkname: header.linkname && "PaxHeader",
          uname: header.uname,
          gname: header.gname,
          devmajor: header.devmajor,
          devminor: header.devminor
        };
        this.push(headers.encode(newHeader));
        this.push(paxHeader);
        overflow(this, paxHeader.byteLength);
        newHeader.size = header.size;
        newHeader.type = header.type;
        this.push(headers.encode(newHeader));
      }
      _doDrain() {
        const drain = this._drain;
        this._drain = noop;
        drain();
      }
      _predestroy() {
        const err = getStreamError(this);
        if (this._stream) this._stream.destroy(err);
        while (this._pending.length) {
          const stream = this._pending.shift();
          stream.destroy(err);
          stream._continueOpen();
        }
        this._doDrain();
      }
      _read(cb) {
        this._doDrain();
        cb();
      }
    };
    module2.exports = function pack(opts) {
      return new Pack(opts);
    };
    function modeToType(mode) {
      switch (mode & constants4.S_IFMT) {
        case constants4.S_IFBLK:
          return "block-device";
        case constants4.S_IFCHR:
          return "character-device";
        case constants4.S_IFDIR:
          return "directory";
        case constants4.S_IFIFO:
          return "fifo";
        case constants4.S_IFLNK:
          return "symlink";
      }
      return "file";
    }
    function noop() {
    }
    function overflow(self, size) {
      size &= 511;
      if (size) self.push(END_OF_TAR.subarray(0, 512 - size));
    }
    function mapWritable(buf) {
      return b4a.isBuffer(buf) ? buf : b4a.from(buf);
    }
  }
});

// node_modules/tar-stream/index.js
var require_tar_stream = __commonJS({
  "node_modules/tar-stream/index.js"(exports2) {
    exports2.extract = require_extract();
    exports2.pack = require_pack();
  }
});

// node_modules/@napi-rs/xattr/index.js
var require_xattr = __commonJS({
  "node_modules/@napi-rs/xattr/index.js"(exports2, module2) {
    var { createRequire: createRequire2 } = require("node:module");
    require = createRequire2(__filename);
    var { readFileSync: readFileSync6 } = require("node:fs");
    var nativeBinding = null;
    var loadErrors = [];
    var isMusl = () => {
      let musl = false;
      if (process.platform === "linux") {
        musl = isMuslFromFilesystem();
        if (musl === null) {
          musl = isMuslFromReport();
        }
        if (musl === null) {
          musl = isMuslFromChildProcess();
        }
      }
      return musl;
    };
    var isFileMusl = (f) => f.includes("libc.musl-") || f.includes("ld-musl-");
    var isMuslFromFilesystem = () => {
      try {
        return readFileSync6("/usr/bin/ldd", "utf-8").includes("musl");
      } catch {
        return null;
      }
    };
    var isMuslFromReport = () => {
      let report = null;
      if (typeof process.report?.getReport === "function") {
        process.report.excludeNetwork = true;
        report = process.report.getReport();
      }
      if (!report) {
        return null;
      }
      if (report.header && report.header.glibcVersionRuntime) {
        return false;
      }
      if (Array.isArray(report.sharedObjects)) {
        if (report.sharedObjects.some(isFileMusl)) {
          return true;
        }
      }
      return false;
    };
    var isMuslFromChildProcess = () => {
      try {
        return require("child_process").execSync("ldd --version", { encoding: "utf8" }).includes("musl");
      } catch (e) {
        return false;
      }
    };
    function requireNative() {
      if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
        try {
          return require(process.env.NAPI_RS_NATIVE_LIBRARY_PATH);
        } catch (err) {
          loadErrors.push(err);
        }
      } else if (process.platform === "android") {
        if (process.arch === "arm64") {
          try {
            return require("./xattr.android-arm64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-android-arm64");
            const bindingPackageVersion = require("@napi-rs/xattr-android-arm64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "arm") {
          try {
            return require("./xattr.android-arm-eabi.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-android-arm-eabi");
            const bindingPackageVersion = require("@napi-rs/xattr-android-arm-eabi/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on Android ${process.arch}`));
        }
      } else if (process.platform === "win32") {
        if (process.arch === "x64") {
          try {
            return require("./xattr.win32-x64-msvc.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-win32-x64-msvc");
            const bindingPackageVersion = require("@napi-rs/xattr-win32-x64-msvc/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "ia32") {
          try {
            return require("./xattr.win32-ia32-msvc.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-win32-ia32-msvc");
            const bindingPackageVersion = require("@napi-rs/xattr-win32-ia32-msvc/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "arm64") {
          try {
            return require("./xattr.win32-arm64-msvc.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-win32-arm64-msvc");
            const bindingPackageVersion = require("@napi-rs/xattr-win32-arm64-msvc/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on Windows: ${process.arch}`));
        }
      } else if (process.platform === "darwin") {
        try {
          return require("./xattr.darwin-universal.node");
        } catch (e) {
          loadErrors.push(e);
        }
        try {
          const binding = require("@napi-rs/xattr-darwin-universal");
          const bindingPackageVersion = require("@napi-rs/xattr-darwin-universal/package.json").version;
          if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
            throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
          }
          return binding;
        } catch (e) {
          loadErrors.push(e);
        }
        if (process.arch === "x64") {
          try {
            return require("./xattr.darwin-x64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-darwin-x64");
            const bindingPackageVersion = require("@napi-rs/xattr-darwin-x64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "arm64") {
          try {
            return require("./xattr.darwin-arm64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-darwin-arm64");
            const bindingPackageVersion = require("@napi-rs/xattr-darwin-arm64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on macOS: ${process.arch}`));
        }
      } else if (process.platform === "freebsd") {
        if (process.arch === "x64") {
          try {
            return require("./xattr.freebsd-x64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-freebsd-x64");
            const bindingPackageVersion = require("@napi-rs/xattr-freebsd-x64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "arm64") {
          try {
            return require("./xattr.freebsd-arm64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-freebsd-arm64");
            const bindingPackageVersion = require("@napi-rs/xattr-freebsd-arm64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on FreeBSD: ${process.arch}`));
        }
      } else if (process.platform === "linux") {
        if (process.arch === "x64") {
          if (isMusl()) {
            try {
              return require("./xattr.linux-x64-musl.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-x64-musl");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-x64-musl/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          } else {
            try {
              return require("./xattr.linux-x64-gnu.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-x64-gnu");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-x64-gnu/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          }
        } else if (process.arch === "arm64") {
          if (isMusl()) {
            try {
              return require("./xattr.linux-arm64-musl.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-arm64-musl");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-arm64-musl/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          } else {
            try {
              return require("./xattr.linux-arm64-gnu.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-arm64-gnu");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-arm64-gnu/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          }
        } else if (process.arch === "arm") {
          if (isMusl()) {
            try {
              return require("./xattr.linux-arm-musleabihf.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-arm-musleabihf");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-arm-musleabihf/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          } else {
            try {
              return require("./xattr.linux-arm-gnueabihf.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-arm-gnueabihf");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-arm-gnueabihf/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          }
        } else if (process.arch === "loong64") {
          if (isMusl()) {
            try {
              return require("./xattr.linux-loong64-musl.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-loong64-musl");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-loong64-musl/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          } else {
            try {
              return require("./xattr.linux-loong64-gnu.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-loong64-gnu");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-loong64-gnu/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          }
        } else if (process.arch === "riscv64") {
          if (isMusl()) {
            try {
              return require("./xattr.linux-riscv64-musl.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-riscv64-musl");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-riscv64-musl/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          } else {
            try {
              return require("./xattr.linux-riscv64-gnu.node");
            } catch (e) {
              loadErrors.push(e);
            }
            try {
              const binding = require("@napi-rs/xattr-linux-riscv64-gnu");
              const bindingPackageVersion = require("@napi-rs/xattr-linux-riscv64-gnu/package.json").version;
              if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
                throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
              }
              return binding;
            } catch (e) {
              loadErrors.push(e);
            }
          }
        } else if (process.arch === "ppc64") {
          try {
            return require("./xattr.linux-ppc64-gnu.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-linux-ppc64-gnu");
            const bindingPackageVersion = require("@napi-rs/xattr-linux-ppc64-gnu/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "s390x") {
          try {
            return require("./xattr.linux-s390x-gnu.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-linux-s390x-gnu");
            const bindingPackageVersion = require("@napi-rs/xattr-linux-s390x-gnu/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on Linux: ${process.arch}`));
        }
      } else if (process.platform === "openharmony") {
        if (process.arch === "arm64") {
          try {
            return require("./xattr.openharmony-arm64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-openharmony-arm64");
            const bindingPackageVersion = require("@napi-rs/xattr-openharmony-arm64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "x64") {
          try {
            return require("./xattr.openharmony-x64.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-openharmony-x64");
            const bindingPackageVersion = require("@napi-rs/xattr-openharmony-x64/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else if (process.arch === "arm") {
          try {
            return require("./xattr.openharmony-arm.node");
          } catch (e) {
            loadErrors.push(e);
          }
          try {
            const binding = require("@napi-rs/xattr-openharmony-arm");
            const bindingPackageVersion = require("@napi-rs/xattr-openharmony-arm/package.json").version;
            if (bindingPackageVersion !== "1.0.3" && process.env.NAPI_RS_ENFORCE_VERSION_CHECK && process.env.NAPI_RS_ENFORCE_VERSION_CHECK !== "0") {
              throw new Error(`Native binding package version mismatch, expected 1.0.3 but got ${bindingPackageVersion}. You can reinstall dependencies to fix this issue.`);
            }
            return binding;
          } catch (e) {
            loadErrors.push(e);
          }
        } else {
          loadErrors.push(new Error(`Unsupported architecture on OpenHarmony: ${process.arch}`));
        }
      } else {
        loadErrors.push(new Error(`Unsupported OS: ${process.platform}, architecture: ${process.arch}`));
      }
    }
    nativeBinding = requireNative();
    if (!nativeBinding || process.env.NAPI_RS_FORCE_WASI) {
      let wasiBinding = null;
      let wasiBindingError = null;
      try {
        wasiBinding = require("./xattr.wasi.cjs");
        nativeBinding = wasiBinding;
      } catch (err) {
        if (process.env.NAPI_RS_FORCE_WASI) {
          wasiBindingError = err;
        }
      }
      if (!nativeBinding) {
        try {
          wasiBinding = require("@napi-rs/xattr-wasm32-wasi");
          nativeBinding = wasiBinding;
        } catch (err) {
          if (process.env.NAPI_RS_FORCE_WASI) {
            wasiBindingError.cause = err;
            loadErrors.push(err);
          }
        }
      }
      if (process.env.NAPI_RS_FORCE_WASI === "error" && !wasiBinding) {
        const error = new Error("WASI binding not found and NAPI_RS_FORCE_WASI is set to error");
        error.cause = wasiBindingError;
        throw error;
      }
    }
    if (!nativeBinding) {
      if (loadErrors.length > 0) {
        throw new Error(
          `Cannot find native binding. npm has a bug related to optional dependencies (https://github.com/npm/cli/issues/4828). Please try \`npm i\` again after removing both package-lock.json and node_modules directory.`,
          {
            cause: loadErrors.reduce((err, cur) => {
              cur.cause = err;
              return cur;
            })
          }
        );
      }
      throw new Error(`Failed to load native binding`);
    }
    module2.exports = nativeBinding;
    module2.exports.getAttribute = nativeBinding.getAttribute;
    module2.exports.getAttributeSync = nativeBinding.getAttributeSync;
    module2.exports.listAttributes = nativeBinding.listAttributes;
    module2.exports.listAttributesSync = nativeBinding.listAttributesSync;
    module2.exports.removeAttribute = nativeBinding.removeAttribute;
    module2.exports.removeAttributeSync = nativeBinding.removeAttributeSync;
    module2.exports.setAttribute = nativeBinding.setAttribute;
    module2.exports.setAttributeSync = nativeBinding.setAttributeSync;
  }
});

// action/src/main.ts
var import_native = __toESM(require_native());

// packages/builder/src/solve/build.ts
var import_promises40 = require("node:fs/promises");
var import_node_path31 = __toESM(require("node:path"), 1);

// packages/errors/src/index.ts
var BRAND = /* @__PURE__ */ Symbol.for("build-image.BuildError");
var BuildError = class _BuildError extends Error {
  [BRAND] = true;
  name = "BuildError";
  code;
  data;
  location;
  source;
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.code = code;
    this.data = options.data ?? {};
    this.location = options.location;
    this.source = options.source;
  }
  /** True for any BuildError, even one created by another installed copy of this package. */
  static is(value) {
    return typeof value === "object" && value !== null && value[BRAND] === true;
  }
  static [Symbol.hasInstance](value) {
    if (this === _BuildError) return _BuildError.is(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
  /** `file:line:column` prefix, or '' when the error has no location. */
  get where() {
    const l = this.location;
    return l ? `${l.file}:${l.line}:${l.column}` : "";
  }
  toJSON() {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      data: this.data,
      ...this.location ? { location: this.location } : {}
    };
  }
};

// packages/builder/src/image/mediaTypes.ts
var MediaType = {
  /** OCI image index (a list of manifests, e.g. one per platform). */
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** Docker manifest list (the Docker counterpart of an OCI index). */
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Docker schema 1 manifests: recognized only to be refused with a clear message. */
  DockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws"
};
function isIndexMediaType(mediaType) {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}
function isManifestMediaType(mediaType) {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}
function toDockerMediaType(mediaType) {
  switch (mediaType) {
    case MediaType.OciIndex:
      return MediaType.DockerManifestList;
    case MediaType.OciManifest:
      return MediaType.DockerManifest;
    case MediaType.OciConfig:
      return MediaType.DockerConfig;
    case MediaType.OciLayer:
      return MediaType.DockerLayer;
    case MediaType.OciLayerGzip:
      return MediaType.DockerLayerGzip;
    default:
      return mediaType;
  }
}
var Annotation = {
  RefName: "org.opencontainers.image.ref.name",
  Created: "org.opencontainers.image.created",
  ContainerdImageName: "io.containerd.image.name"
};

// packages/builder/src/image/json.ts
var import_node_crypto = require("node:crypto");
var DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
function parseDigest(value, what = "digest") {
  if (!DIGEST_RE.test(value)) {
    throw new BuildError("E_INVALID_DIGEST", `Invalid ${what} "${value}": expected "sha256:" followed by 64 lowercase hex digits.`, {
      data: { value }
    });
  }
  return value;
}
function isDigest(value) {
  return typeof value === "string" && DIGEST_RE.test(value);
}
function digestHex(digest) {
  return parseDigest(digest).slice("sha256:".length);
}
function sha256Digest(data) {
  return `sha256:${(0, import_node_crypto.createHash)("sha256").update(data).digest("hex")}`;
}
function sortValue(value) {
  if (Array.isArray(value)) return value.map((v) => v === void 0 ? null : sortValue(v));
  if (value !== null && typeof value === "object") {
    if (typeof value.toJSON === "function") return sortValue(value.toJSON());
    const out = {};
    for (const key of Object.keys(value).sort()) {
      const v = value[key];
      if (v !== void 0 && typeof v !== "function") out[key] = sortValue(v);
    }
    return out;
  }
  return value;
}
function canonicalJson(value) {
  return JSON.stringify(sortValue(value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
function canonicalJsonBytes(value) {
  return Buffer.from(canonicalJson(value), "utf8");
}
async function putJson(store, value, mediaType) {
  const bytes = canonicalJsonBytes(value);
  const { digest, size } = await store.putBytes(bytes, { expected: sha256Digest(bytes) });
  return { mediaType, digest, size };
}

// packages/builder/src/image/commit.ts
async function putImage(store, config, layers, options = {}) {
  const docker = options.mediaTypes === "docker";
  const configDescriptor = await putJson(store, config, docker ? MediaType.DockerConfig : MediaType.OciConfig);
  const manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDescriptor,
    layers: layers.map((l) => ({ ...l })),
    ...options.annotations ? { annotations: { ...options.annotations } } : {}
  };
  const manifestDescriptor = await putJson(store, manifest, manifest.mediaType);
  return { manifestDescriptor, manifest, config, layers: manifest.layers };
}

// packages/builder/src/exporter/ociLayout.ts
var import_promises3 = require("node:fs/promises");
var import_node_path2 = require("node:path");

// packages/builder/src/exporter/blobs.ts
var import_node_fs = require("node:fs");
var import_promises = require("node:fs/promises");
var import_node_path = require("node:path");
var import_promises2 = require("node:stream/promises");

// packages/builder/src/exporter/errors.ts
var ExportError = class extends BuildError {
  name = "ExportError";
  constructor(code, message, options = {}) {
    super(code, message, options);
  }
};

// packages/builder/src/exporter/blobs.ts
async function placeBlob(store, desc, dest) {
  const existing = await (0, import_promises.stat)(dest).catch(() => void 0);
  if (existing && existing.size === desc.size) return;
  if (!await store.has(desc.digest)) {
    throw new ExportError("E_EXPORT_BLOB_MISSING", `Blob ${desc.digest} (${desc.mediaType}) is not in the content store; it must be written (or pulled) before exporting.`, {
      data: { digest: desc.digest, mediaType: desc.mediaType }
    });
  }
  await (0, import_promises.mkdir)((0, import_node_path.dirname)(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await (0, import_promises.link)(store.pathOf(desc.digest), tmp);
  } catch {
    await (0, import_promises2.pipeline)(store.get(desc.digest), (0, import_node_fs.createWriteStream)(tmp, { mode: 420 }));
  }
  try {
    await (0, import_promises.rename)(tmp, dest);
  } catch (err) {
    await (0, import_promises.rm)(tmp, { force: true });
    throw err;
  }
}

// packages/builder/src/reference/errors.ts
var ImageReferenceError = class extends BuildError {
  name = "ImageReferenceError";
  constructor(reference, reason, message) {
    super("E_REFERENCE", message, { data: { reference, reason } });
  }
};

// packages/builder/src/reference/parse.ts
var DOCKER_HUB = "docker.io";
var DOCKER_HUB_API_HOST = "registry-1.docker.io";
var LEGACY_DOCKER_HUB = "index.docker.io";
var MAX_NAME_LENGTH = 255;
var alnum = "[a-z0-9]+";
var separator = "(?:[._]|__|[-]+)";
var pathComponent = `${alnum}(?:${separator}${alnum})*`;
var domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
var ipv6 = "\\[(?:[a-fA-F0-9:]+)\\]";
var domainAndPort = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
var tagPattern = "[\\w][\\w.-]{0,127}";
var digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
var namePattern = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
var REFERENCE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
var HEX_IDENTIFIER = /^[a-f0-9]{64}$/;
var DIGEST_LENGTHS = { sha256: 64, sha384: 96, sha512: 128 };
function parseReference(input) {
  if (HEX_IDENTIFIER.test(input)) {
    throw new ImageReferenceError(
      input,
      "hex-identifier",
      `invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`
    );
  }
  if (input === "") throw new ImageReferenceError(input, "empty", "invalid reference format: repository name must have at least one component");
  const { domain, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(":");
  const remoteName = tagSep >= 0 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) {
    throw new ImageReferenceError(input, "uppercase", `invalid reference format: repository name (${remoteName}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE.exec(full);
  if (!m) {
    if (new RegExp(`^:`).test(remainder) || remainder === "" || remainder.startsWith("@")) {
      throw new ImageReferenceError(input, "format", `invalid reference format: ${JSON.stringify(input)} has no repository name`);
    }
    const tagLike = /:([^/@]*)(?:@|$)/.exec(remainder.slice(remoteName.length));
    if (tagLike && tagLike[1].length > 128) {
      throw new ImageReferenceError(input, "tag", `invalid reference format: tag in ${JSON.stringify(input)} is longer than 128 characters`);
    }
    throw new ImageReferenceError(input, "format", `invalid reference format: ${JSON.stringify(input)} (expected [registry/]repository[:tag][@digest], lowercase)`);
  }
  const name = m[1];
  if (name.length > MAX_NAME_LENGTH) {
    throw new ImageReferenceError(input, "name-too-long", `invalid reference format: repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  }
  const repository = name.slice(domain.length + 1);
  let tag = m[2];
  const digest = m[3];
  if (digest !== void 0) validateDigest(input, digest);
  if (tag === void 0 && digest === void 0) tag = "latest";
  const ref = { registry: domain, repository, familiar: "" };
  if (tag !== void 0) ref.tag = tag;
  if (digest !== void 0) ref.digest = digest;
  ref.familiar = familiarString(ref);
  return ref;
}
function validateDigest(input, digest) {
  const i = digest.indexOf(":");
  const algorithm = digest.slice(0, i);
  const hex2 = digest.slice(i + 1);
  const want = DIGEST_LENGTHS[algorithm];
  if (want === void 0) {
    throw new ImageReferenceError(input, "digest", `invalid reference format: unsupported digest algorithm ${JSON.stringify(algorithm)} in ${JSON.stringify(input)}`);
  }
  if (hex2.length !== want || !/^[0-9a-f]+$/.test(hex2)) {
    throw new ImageReferenceError(input, "digest", `invalid reference format: ${algorithm} digest in ${JSON.stringify(input)} must be ${want} lowercase hex characters`);
  }
}
function splitDockerDomain(name) {
  const i = name.indexOf("/");
  let domain;
  let remainder;
  if (i === -1 || !/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== "localhost" && name.slice(0, i).toLowerCase() === name.slice(0, i)) {
    domain = DOCKER_HUB;
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DOCKER_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !remainder.includes("/")) remainder = `library/${remainder}`;
  return { domain, remainder };
}
function referenceName(ref) {
  return `${ref.registry}/${ref.repository}`;
}
function formatReference(ref) {
  return `${referenceName(ref)}${ref.tag !== void 0 ? `:${ref.tag}` : ""}${ref.digest !== void 0 ? `@${ref.digest}` : ""}`;
}
function familiarString(ref) {
  let name = referenceName(ref);
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith("library/") && ref.repository.split("/").length === 2 ? ref.repository.slice("library/".length) : ref.repository;
  }
  return `${name}${ref.tag !== void 0 ? `:${ref.tag}` : ""}${ref.digest !== void 0 ? `@${ref.digest}` : ""}`;
}
function registryApiHost(registry) {
  return registry === DOCKER_HUB || registry === LEGACY_DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

// packages/builder/src/exporter/names.ts
function parseExportNames(names) {
  const out = [];
  for (const name of names) {
    let ref;
    try {
      ref = parseReference(name);
    } catch (err) {
      throw new ExportError("E_EXPORT_INVALID_NAME", `Invalid image name "${name}" for the exporter: ${err.message}`, { cause: err, data: { name } });
    }
    const familiarRepo = familiarString({ registry: ref.registry, repository: ref.repository });
    out.push({
      full: formatReference(ref),
      refName: ref.tag,
      repoTag: ref.tag !== void 0 ? `${familiarRepo}:${ref.tag}` : void 0,
      familiarRepo
    });
  }
  return out;
}

// packages/builder/src/exporter/ociLayout.ts
var OCI_LAYOUT_FILE = { imageLayoutVersion: "1.0.0" };
function imageBlobs(image) {
  const seen = /* @__PURE__ */ new Set();
  const out = [];
  for (const d of [image.manifest.config, ...image.manifest.layers, image.manifestDescriptor]) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    out.push(d);
  }
  return out;
}
function indexDescriptors(image, names) {
  const base = { mediaType: image.manifestDescriptor.mediaType, digest: image.manifestDescriptor.digest, size: image.manifestDescriptor.size };
  const parsed2 = parseExportNames(names);
  if (parsed2.length === 0) return [base];
  return parsed2.map((n) => {
    const annotations = { [Annotation.ContainerdImageName]: n.full };
    if (image.config.created) annotations[Annotation.Created] = image.config.created;
    if (n.refName !== void 0) annotations[Annotation.RefName] = n.refName;
    return { ...base, annotations };
  });
}
async function exportOciLayout(image, store, dir, options = {}) {
  for (const desc of imageBlobs(image)) {
    await placeBlob(store, desc, (0, import_node_path2.join)(dir, "blobs", "sha256", digestHex(desc.digest)));
  }
  const layoutPath = (0, import_node_path2.join)(dir, "oci-layout");
  const existingLayout = await (0, import_promises3.readFile)(layoutPath, "utf8").catch(() => void 0);
  if (existingLayout === void 0) await (0, import_promises3.writeFile)(layoutPath, JSON.stringify(OCI_LAYOUT_FILE));
  const indexPath = (0, import_node_path2.join)(dir, "index.json");
  let index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const existing = await (0, import_promises3.readFile)(indexPath, "utf8").catch(() => void 0);
  if (existing !== void 0) {
    try {
      index = JSON.parse(existing);
      if (!Array.isArray(index.manifests)) throw new Error('"manifests" is not an array');
    } catch (err) {
      throw new ExportError("E_EXPORT_LAYOUT_INVALID", `${indexPath} exists but is not a valid OCI index (${err.message}); export to an empty directory or fix the file.`, {
        cause: err,
        data: { dir }
      });
    }
  }
  const added = indexDescriptors(image, options.names ?? []);
  const refNames2 = new Set(added.map((d) => d.annotations?.[Annotation.RefName]).filter((v) => v !== void 0));
  const fullNames = new Set(added.map((d) => d.annotations?.[Annotation.ContainerdImageName]).filter((v) => v !== void 0));
  index.manifests = index.manifests.filter((d) => {
    const ref = d.annotations?.[Annotation.RefName];
    const full = d.annotations?.[Annotation.ContainerdImageName];
    if (ref !== void 0 && refNames2.has(ref)) return false;
    if (full !== void 0 && fullNames.has(full)) return false;
    return !(d.annotations === void 0 && d.digest === image.manifestDescriptor.digest);
  });
  index.manifests.push(...added);
  const tmp = `${indexPath}.tmp-${process.pid}`;
  await (0, import_promises3.writeFile)(tmp, canonicalJson(index));
  await (0, import_promises3.rename)(tmp, indexPath);
}

// packages/builder/src/exporter/ociTar.ts
var import_node_fs2 = require("node:fs");
var import_promises5 = require("node:fs/promises");
var import_node_stream3 = require("node:stream");
var import_promises6 = require("node:stream/promises");

// packages/builder/src/layer/write.ts
var import_node_crypto2 = require("node:crypto");
var import_node_stream2 = require("node:stream");
var import_promises4 = require("node:stream/promises");

// packages/builder/src/layer/adaptive-gzip.ts
var import_node_stream = require("node:stream");
var import_node_util = require("node:util");
var zlib = __toESM(require("node:zlib"), 1);
var SEGMENT_BYTES = 128 * 1024;
var STORE_ABOVE_BITS = 7.95;
function byteEntropy(buf, stride = 1) {
  if (buf.length === 0) return 0;
  const counts = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < buf.length; i += stride, n++) counts[buf[i]]++;
  let bits = 0;
  for (let v = 0; v < 256; v++) {
    const c = counts[v];
    if (c === 0) continue;
    const p = c / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}
var SAMPLE_STRIDE = 3;
async function* segments(source, size) {
  let parts = [];
  let length = 0;
  for await (const chunk of source) {
    let rest = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      const take = Math.min(size - length, rest.length);
      parts.push(rest.subarray(0, take));
      length += take;
      rest = rest.subarray(take);
      if (length === size) {
        yield parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
        parts = [];
        length = 0;
      }
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}
function adaptiveGzip(level) {
  const crc322 = zlib.crc32;
  if (typeof crc322 !== "function") return plainGzip(level);
  return async function* gzipStage(source) {
    const inFlight = [];
    let previous;
    let crc = 0;
    let size = 0;
    try {
      yield Buffer.from([31, 139, 8, 0, 0, 0, 0, 0, 0, 3]);
      for await (const segment of segments(source, SEGMENT_BYTES)) {
        crc = crc322(segment, crc);
        size = size + segment.length >>> 0;
        const segmentLevel = level > 0 && byteEntropy(segment, SAMPLE_STRIDE) <= STORE_ABOVE_BITS ? level : 0;
        const dictionary = previous ? previous.subarray(Math.max(0, previous.length - WINDOW_BYTES)) : void 0;
        inFlight.push(deflateSegment(segment, segmentLevel, dictionary));
        previous = segment;
        if (inFlight.length >= IN_FLIGHT) yield await inFlight.shift();
      }
      while (inFlight.length > 0) yield await inFlight.shift();
      yield FINAL_EMPTY_BLOCK;
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(size, 4);
      yield trailer;
    } finally {
      for (const p of inFlight) p.catch(() => void 0);
    }
  };
}
var WINDOW_BYTES = 32 * 1024;
var IN_FLIGHT = 3;
var FINAL_EMPTY_BLOCK = Buffer.from([3, 0]);
var deflateRaw2 = (0, import_node_util.promisify)(zlib.deflateRaw);
function deflateSegment(segment, level, dictionary) {
  return deflateRaw2(segment, {
    level,
    memLevel: 8,
    strategy: zlib.constants.Z_DEFAULT_STRATEGY,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    // Part of the format: zlib sizes stored blocks by the output space it has, so another value
    // gives other (equally valid) bytes and so other layer digests for the same files.
    chunkSize: 256 * 1024,
    ...dictionary ? { dictionary } : {}
  });
}
function plainGzip(level) {
  return async function* gzipStage(source) {
    const z = zlib.createGzip({ level, memLevel: 8, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
    const fed = import_node_stream.Readable.from(source).pipe(z);
    for await (const chunk of fed) yield chunk;
  };
}

// packages/builder/src/layer/errors.ts
var LayerError = class extends BuildError {
  name = "LayerError";
  constructor(code, message, options = {}) {
    super(code, message, options);
  }
};

// packages/builder/src/layer/tarHeader.ts
var TYPEFLAG = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6"
};
var MAX_OCTAL_7 = 2097151;
var MAX_OCTAL_11 = 8589934591;
function isAscii(s) {
  return /^[\x00-\x7f]*$/.test(s);
}
function writeOctal(block, offset, width, value) {
  const digits = value.toString(8).padStart(width - 1, "0");
  block.write(digits, offset, width - 1, "ascii");
  block[offset + width - 1] = 0;
}
function splitUstar(name) {
  if (name.length <= 100) return { prefix: "", name };
  let length = name.length;
  if (length > 156) length = 156;
  else if (name[length - 1] === "/") length--;
  const i = name.slice(0, length).lastIndexOf("/");
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return void 0;
  return { prefix: name.slice(0, i), name: name.slice(i + 1) };
}
function paxRecord(key, value) {
  const v = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  const base = Buffer.byteLength(key, "utf8") + v.length + 3;
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, "utf8"), v, Buffer.from("\n")]);
}
function ustarBlock(fields) {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, "utf8");
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 1, "ascii");
  block.write(fields.linkname, 157, 100, "utf8");
  block.write("ustar\x0000", 257, 8, "ascii");
  writeOctal(block, 329, 8, fields.devmajor);
  writeOctal(block, 337, 8, fields.devminor);
  block.write(fields.prefix, 345, 155, "utf8");
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, "0"), 148, 6, "ascii");
  block[154] = 0;
  block[155] = 32;
  return block;
}
function tarPadding(size) {
  const rem = size % 512;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(512 - rem);
}
function normalizeEntryName(name, type) {
  let n = name.replace(/^(\.\/|\/)+/, "");
  n = n.replace(/\/+$/, "");
  if (n === "" || n === ".") {
    throw new LayerError("E_LAYER_INVALID_ENTRY", `Tar entry name "${name}" names the layer root; the root is not an entry of a layer.`, { data: { name } });
  }
  if (n.split("/").some((c) => c === ".." || c === "." || c === "")) {
    throw new LayerError("E_LAYER_INVALID_ENTRY", `Tar entry name "${name}" has an empty, "." or ".." component; give a clean relative path.`, { data: { name } });
  }
  return type === "directory" ? `${n}/` : n;
}
function toSeconds(mtime) {
  if (mtime === void 0) return 0;
  const s = mtime instanceof Date ? mtime.getTime() / 1e3 : mtime;
  return Math.floor(s);
}
function encodeTarHeader(header) {
  const pax = [];
  const type = header.type;
  const size = type === "file" ? header.size ?? 0 : 0;
  const uid = header.uid ?? 0;
  const gid = header.gid ?? 0;
  const mtime = toSeconds(header.mtime);
  const linkname = header.linkname ?? "";
  let ustarName = "";
  let prefix = "";
  const split = isAscii(header.name) ? splitUstar(header.name) : void 0;
  if (split) {
    ustarName = split.name;
    prefix = split.prefix;
  } else {
    pax.push(["path", header.name]);
    ustarName = Buffer.from(header.name, "utf8").subarray(0, 100).toString("latin1").replace(/[^\x00-\x7f]/g, "_");
  }
  let ustarLink = linkname;
  if (!isAscii(linkname) || linkname.length > 100) {
    pax.push(["linkpath", linkname]);
    ustarLink = linkname.slice(0, 100).replace(/[^\x00-\x7f]/g, "_");
  }
  const fit = (key, value, max) => {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new LayerError("E_LAYER_INVALID_ENTRY", `Tar entry "${header.name}" has an invalid ${key} ${value}.`, { data: { name: header.name, [key]: value } });
    }
    if (value <= max) return value;
    pax.push([key, String(value)]);
    return 0;
  };
  const fUid = fit("uid", uid, MAX_OCTAL_7);
  const fGid = fit("gid", gid, MAX_OCTAL_7);
  const fSize = fit("size", size, MAX_OCTAL_11);
  let fMtime = mtime;
  if (mtime < 0 || mtime > MAX_OCTAL_11) {
    pax.push(["mtime", String(mtime)]);
    fMtime = 0;
  }
  const devmajor = header.devmajor ?? 0;
  const devminor = header.devminor ?? 0;
  if (devmajor > MAX_OCTAL_7 || devminor > MAX_OCTAL_7) {
    throw new LayerError("E_LAYER_INVALID_ENTRY", `Device numbers ${devmajor}:${devminor} of "${header.name}" do not fit a tar header.`, { data: { name: header.name } });
  }
  for (const [k, v] of Object.entries(header.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, v]);
  const block = ustarBlock({
    name: ustarName,
    prefix,
    mode: header.mode & 4095,
    uid: fUid,
    gid: fGid,
    size: fSize,
    mtime: fMtime,
    typeflag: TYPEFLAG[type],
    linkname: ustarLink,
    devmajor,
    devminor
  });
  if (pax.length === 0) return block;
  pax.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const base = header.name.replace(/\/$/, "").split("/").pop() ?? "";
  const dir = header.name.replace(/\/$/, "").split("/").slice(0, -1).join("/");
  let paxName = (dir ? `${dir}/PaxHeaders.0/${base}` : `PaxHeaders.0/${base}`).replace(/[^\x00-\x7f]/g, "_");
  if (paxName.length > 100) paxName = paxName.slice(0, 100);
  const paxBlock = ustarBlock({
    name: paxName,
    prefix: "",
    mode: 0,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0
  });
  return Buffer.concat([paxBlock, body, tarPadding(body.length), block]);
}
var TAR_END = Buffer.alloc(1024);

// packages/builder/src/layer/write.ts
var READ_CHUNK_BYTES = 256 * 1024;
function layerMediaType(options) {
  const gzip = (options.compression ?? "gzip") === "gzip";
  if (options.mediaTypes === "docker") return gzip ? MediaType.DockerLayerGzip : MediaType.DockerLayer;
  return gzip ? MediaType.OciLayerGzip : MediaType.OciLayer;
}
var Sha256Tap = class extends import_node_stream2.Transform {
  hash = (0, import_node_crypto2.createHash)("sha256");
  bytes = 0;
  _transform(chunk, _enc, cb) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest() {
    return `sha256:${this.hash.digest("hex")}`;
  }
};
async function* tarStream(entries, options = {}) {
  for await (const entry of entries) {
    const h = entry.header;
    const name = normalizeEntryName(h.name, h.type);
    let mtime = toSeconds(h.mtime);
    if (options.sourceDateEpoch !== void 0 && mtime > options.sourceDateEpoch) mtime = Math.floor(options.sourceDateEpoch);
    const size = h.type === "file" ? h.size ?? 0 : 0;
    if ((h.type === "symlink" || h.type === "link") && !h.linkname) {
      throw new LayerError("E_LAYER_INVALID_ENTRY", `Tar entry "${name}" is a ${h.type} without a target; set header.linkname.`, { data: { name } });
    }
    yield encodeTarHeader({ ...h, name, mtime, size });
    options.onEntry?.();
    if (size > 0) {
      if (!entry.body) {
        throw new LayerError("E_LAYER_ENTRY_SIZE", `Tar entry "${name}" declares ${size} bytes but has no body.`, { data: { name, size } });
      }
      let written = 0;
      for await (const chunk of entry.body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        written += buf.length;
        if (written > size) {
          throw new LayerError("E_LAYER_ENTRY_SIZE", `File "${name}" grew while it was being archived (more than ${size} bytes); nothing may write to a directory being turned into a layer.`, { data: { name, size } });
        }
        yield buf;
      }
      if (written !== size) {
        throw new LayerError("E_LAYER_ENTRY_SIZE", `File "${name}" has ${written} bytes, its header says ${size}; it changed while being archived.`, { data: { name, size, written } });
      }
      yield tarPadding(size);
    } else if (entry.body && "destroy" in entry.body && typeof entry.body.destroy === "function") {
      entry.body.destroy();
    }
  }
  yield TAR_END;
}
async function writeLayerFromEntries(entries, store, options = {}) {
  let count = 0;
  const tarOptions = { onEntry: () => void count++ };
  if (options.sourceDateEpoch !== void 0) tarOptions.sourceDateEpoch = options.sourceDateEpoch;
  const source = import_node_stream2.Readable.from(tarStream(entries, tarOptions), { objectMode: false, highWaterMark: READ_CHUNK_BYTES });
  const diffTap = new Sha256Tap();
  let stored;
  const sink = async (input) => {
    stored = await store.put(input);
  };
  if ((options.compression ?? "gzip") === "gzip") {
    await (0, import_promises4.pipeline)(source, diffTap, adaptiveGzip(options.compressionLevel ?? 6), sink);
  } else {
    await (0, import_promises4.pipeline)(source, diffTap, sink);
  }
  if (!stored) throw new Error("unreachable: store.put did not complete");
  return { digest: stored.digest, diffId: diffTap.digest(), size: stored.size, mediaType: layerMediaType(options), entries: count };
}

// packages/builder/src/exporter/ociTar.ts
function file(name, content, mtime) {
  const body = Buffer.from(content);
  return { header: { name, type: "file", mode: 420, size: body.length, mtime }, body: import_node_stream3.Readable.from([body]) };
}
async function* archiveEntries(image, store, options) {
  const mtime = options.mtime ?? 0;
  const names = parseExportNames(options.names ?? []);
  const blobs = imageBlobs(image).sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
  for (const d of blobs) {
    const st = await store.stat(d.digest);
    if (!st) {
      throw new ExportError("E_EXPORT_BLOB_MISSING", `Blob ${d.digest} (${d.mediaType}) is not in the content store; it must be written (or pulled) before exporting.`, {
        data: { digest: d.digest }
      });
    }
  }
  yield { header: { name: "blobs/", type: "directory", mode: 493, mtime } };
  yield { header: { name: "blobs/sha256/", type: "directory", mode: 493, mtime } };
  for (const d of blobs) {
    const st = await store.stat(d.digest);
    yield { header: { name: `blobs/sha256/${digestHex(d.digest)}`, type: "file", mode: 420, size: st.size, mtime }, body: lazy(() => store.get(d.digest)) };
  }
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexDescriptors(image, options.names ?? []) };
  yield file("index.json", canonicalJson(index), mtime);
  const repoTags = names.map((n) => n.repoTag).filter((t) => t !== void 0);
  const manifestJson = [
    {
      Config: `blobs/sha256/${digestHex(image.manifest.config.digest)}`,
      RepoTags: repoTags,
      Layers: image.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`)
    }
  ];
  yield file("manifest.json", JSON.stringify(manifestJson), mtime);
  yield file("oci-layout", JSON.stringify(OCI_LAYOUT_FILE), mtime);
  const repositories = {};
  for (const n of names) {
    if (n.refName === void 0) continue;
    (repositories[n.familiarRepo] ??= {})[n.refName] = digestHex(image.manifest.config.digest);
  }
  if (Object.keys(repositories).length > 0) yield file("repositories", canonicalJson(repositories), mtime);
}
async function* lazy(open6) {
  yield* open6();
}
async function exportOciTar(image, store, destination, options = {}) {
  const source = () => import_node_stream3.Readable.from(tarStream(archiveEntries(image, store, options)), { objectMode: false, highWaterMark: 1024 * 1024 });
  if (typeof destination !== "string") {
    await (0, import_promises6.pipeline)(source(), destination);
    return;
  }
  const tmp = `${destination}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await (0, import_promises6.pipeline)(source(), (0, import_node_fs2.createWriteStream)(tmp, { mode: 420 }));
    await (0, import_promises5.rename)(tmp, destination);
  } catch (err) {
    await (0, import_promises5.rm)(tmp, { force: true });
    throw err;
  }
}
async function toDockerImage(image, store) {
  const relabel = (d) => ({ ...d, mediaType: toDockerMediaType(d.mediaType) });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: relabel(image.manifest.config),
    layers: image.manifest.layers.map(relabel)
  };
  if (image.manifest.annotations) manifest.annotations = image.manifest.annotations;
  const manifestDescriptor = await putJson(store, manifest, MediaType.DockerManifest);
  return { manifestDescriptor, manifest, config: image.config, layers: manifest.layers };
}
async function exportDockerTar(image, store, destination, options = {}) {
  const docker = await toDockerImage(image, store);
  await exportOciTar(docker, store, destination, options);
  return docker;
}

// packages/builder/src/layer/apply.ts
var import_node_child_process3 = require("node:child_process");
var import_node_fs5 = require("node:fs");
var import_promises8 = require("node:fs/promises");
var import_node_path6 = require("node:path");
var import_promises9 = require("node:stream/promises");
var import_node_util3 = require("node:util");
var tar = __toESM(require_tar_stream(), 1);

// packages/builder/src/layer/compression.ts
var import_node_child_process = require("node:child_process");
var import_node_stream4 = require("node:stream");
var zlib2 = __toESM(require("node:zlib"), 1);
function detectCompression(head) {
  if (head.length >= 2 && head[0] === 31 && head[1] === 139) return "gzip";
  if (head.length >= 4 && head[0] === 40 && head[1] === 181 && head[2] === 47 && head[3] === 253) return "zstd";
  if (head.length >= 3 && head[0] === 66 && head[1] === 90 && head[2] === 104) return "bzip2";
  if (head.length >= 6 && head[0] === 253 && head[1] === 55 && head[2] === 122 && head[3] === 88 && head[4] === 90 && head[5] === 0) return "xz";
  return "none";
}
async function* prepend(head, rest) {
  if (head.length > 0) yield head;
  for (; ; ) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}
function zstdDecompressor() {
  const native2 = zlib2.createZstdDecompress;
  if (typeof native2 === "function") return native2();
  const child = (0, import_node_child_process.spawn)("zstd", ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "inherit"] });
  const duplex = new import_node_stream4.Duplex({
    write(chunk, _enc, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once("drain", () => cb());
    },
    final(cb) {
      child.stdin.end(cb);
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      child.kill();
      cb(err);
    }
  });
  child.stdout.on("data", (d) => {
    if (!duplex.push(d)) child.stdout.pause();
  });
  child.stdout.on("end", () => duplex.push(null));
  child.on("error", (err) => {
    duplex.destroy(
      err.code === "ENOENT" ? new LayerError("E_LAYER_COMPRESSION_UNSUPPORTED", "This layer is zstd-compressed, and this Node has no zstd support (Node >= 22.15 has) and no `zstd` program is installed. Install zstd (apt-get install zstd) or use Node >= 22.15.") : err
    );
  });
  child.on("close", (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new LayerError("E_LAYER_CORRUPT", `zstd exited with status ${code}: the layer is not valid zstd data.`));
  });
  return duplex;
}
async function decompressedStream(blob) {
  const source = blob instanceof import_node_stream4.Readable ? blob : import_node_stream4.Readable.from(blob);
  const it = source[Symbol.asyncIterator]();
  const chunks = [];
  let len = 0;
  while (len < 6) {
    const r = await it.next();
    if (r.done) break;
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  const kind = detectCompression(head);
  const raw = import_node_stream4.Readable.from(prepend(head, it), { objectMode: false });
  switch (kind) {
    case "none":
      return raw;
    case "gzip":
      return chain(raw, zlib2.createGunzip());
    case "zstd":
      return chain(raw, zstdDecompressor());
    default:
      throw new LayerError("E_LAYER_COMPRESSION_UNSUPPORTED", `This layer is ${kind}-compressed; OCI layers are tar, tar+gzip or tar+zstd.`, { data: { compression: kind } });
  }
}
function chain(src, transform2) {
  const out = transform2;
  src.on("error", (err) => out.destroy(err));
  out.on("close", () => {
    if (!src.destroyed) src.destroy();
  });
  src.pipe(transform2);
  return out;
}

// packages/builder/src/layer/directory.ts
var import_node_fs3 = require("node:fs");
var import_node_path3 = require("node:path");

// packages/builder/src/layer/xattr.ts
var import_xattr = __toESM(require_xattr(), 1);
function isUnsupported(err) {
  const msg = err instanceof Error ? err.message : String(err);
  return /os error (95|61|1|2)\b|not supported|No data available/i.test(msg);
}
function setXattrSync(path28, name, value) {
  import_xattr.default.setAttributeSync(path28, name, value);
}
function listXattrsSync(path28) {
  try {
    return import_xattr.default.listAttributesSync(path28);
  } catch (err) {
    if (isUnsupported(err)) return [];
    throw err;
  }
}
function getXattrSync(path28, name) {
  try {
    return import_xattr.default.getAttributeSync(path28, name) ?? void 0;
  } catch (err) {
    if (isUnsupported(err)) return void 0;
    throw err;
  }
}

// packages/builder/src/layer/directory.ts
var SMALL_FILE_BYTES = 64 * 1024;
var WHITEOUT_PREFIX = ".wh.";
var WHITEOUT_OPAQUE = ".wh..wh..opq";
function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
function devNumbers(rdev) {
  const major = rdev >> 8n & 0xfffn | rdev >> 32n & ~0xfffn;
  const minor = rdev & 0xffn | rdev >> 12n & ~0xffn;
  return { devmajor: Number(major), devminor: Number(minor) };
}
async function* directoryEntries(dir, options = {}) {
  const hardlinks = /* @__PURE__ */ new Map();
  const overlayPrefixes = ["trusted.overlay.", "user.overlay."];
  const mode = options.xattrs ?? "capability";
  function collectXattrs(abs, st, rel) {
    const xattrs = {};
    let opaque = false;
    if (options.overlay || mode === "all") {
      const names = listXattrsSync(abs).sort(byteCompare);
      for (const name of names) {
        const overlayKey = overlayPrefixes.find((p) => name.startsWith(p));
        if (overlayKey !== void 0) {
          const key = name.slice(overlayKey.length);
          if (options.overlay && (key === "redirect" || key === "metacopy")) {
            throw new LayerError(
              "E_LAYER_OVERLAY_UNSUPPORTED",
              `Overlay upper dir entry "${rel}" has the xattr ${name}; redirect_dir and metacopy cannot be turned into an OCI layer. Mount the overlay with redirect_dir=off,metacopy=off (and index=off).`,
              { data: { path: rel, xattr: name } }
            );
          }
          if (options.overlay && key === "opaque" && st.isDirectory()) {
            const v = getXattrSync(abs, name);
            if (v && v.toString("utf8") === "y") opaque = true;
          }
          continue;
        }
        if (mode === "all" || mode === "capability" && name === "security.capability") {
          const v = getXattrSync(abs, name);
          if (v !== void 0) xattrs[name] = v;
        }
      }
    } else if (mode === "capability" && st.isFile()) {
      if (listXattrsSync(abs).includes("security.capability")) {
        const v = getXattrSync(abs, "security.capability");
        if (v !== void 0 && v.length > 0) xattrs["security.capability"] = v;
      }
    }
    return { xattrs, opaque };
  }
  async function* walk2(rel) {
    const absDir = rel ? (0, import_node_path3.join)(dir, rel) : dir;
    const names = (0, import_node_fs3.readdirSync)(absDir);
    const children = [];
    for (const diskName of names) {
      const relPath = rel ? `${rel}/${diskName}` : diskName;
      if (options.exclude?.has(relPath)) continue;
      const st = (0, import_node_fs3.lstatSync)((0, import_node_path3.join)(absDir, diskName), { bigint: true });
      if (options.overlay && st.isCharacterDevice() && st.rdev === 0n) {
        children.push({ entryName: WHITEOUT_PREFIX + diskName, diskName, st, kind: "whiteout" });
      } else {
        children.push({ entryName: diskName, diskName, st, kind: "node" });
      }
    }
    children.sort((a, b) => byteCompare(a.entryName, b.entryName));
    for (const child of children) {
      const relPath = rel ? `${rel}/${child.diskName}` : child.diskName;
      const entryPath = rel ? `${rel}/${child.entryName}` : child.entryName;
      if (child.kind === "whiteout") {
        yield { header: { name: entryPath, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } };
        continue;
      }
      const st = child.st;
      const abs = (0, import_node_path3.join)(absDir, child.diskName);
      if (st.isSocket()) continue;
      const { xattrs, opaque } = collectXattrs(abs, st, relPath);
      const header = {
        name: entryPath,
        type: "file",
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: Number(st.mtimeNs / 1000000000n)
      };
      if (Object.keys(xattrs).length > 0) header.xattrs = xattrs;
      if (!st.isDirectory() && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = hardlinks.get(key);
        if (first !== void 0) {
          yield { header: { ...header, type: "link", linkname: first, size: 0 } };
          continue;
        }
        hardlinks.set(key, entryPath);
      }
      if (st.isDirectory()) {
        yield { header: { ...header, type: "directory" } };
        if (opaque) {
          yield { header: { name: `${entryPath}/${WHITEOUT_OPAQUE}`, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } };
        }
        yield* walk2(relPath);
      } else if (st.isFile()) {
        const size = Number(st.size);
        const body = size === 0 ? void 0 : size <= SMALL_FILE_BYTES ? [(0, import_node_fs3.readFileSync)(abs)] : (0, import_node_fs3.createReadStream)(abs, { highWaterMark: READ_CHUNK_BYTES });
        yield { header: { ...header, type: "file", size }, ...body ? { body } : {} };
      } else if (st.isSymbolicLink()) {
        yield { header: { ...header, type: "symlink", linkname: (0, import_node_fs3.readlinkSync)(abs) } };
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        yield { header: { ...header, type: st.isCharacterDevice() ? "character-device" : "block-device", ...devNumbers(st.rdev) } };
      } else if (st.isFIFO()) {
        yield { header: { ...header, type: "fifo" } };
      }
    }
  }
  yield* walk2("");
}
async function writeLayerFromDirectory(dir, store, options = {}) {
  return writeLayerFromEntries(directoryEntries(dir, options), store, options);
}

// packages/builder/src/rootfs/resolve.ts
var import_promises7 = require("node:fs/promises");
var import_node_path4 = __toESM(require("node:path"), 1);
var MAX_SYMLINKS = 255;
async function resolveInRoot(root, p, options = {}) {
  const followFinal = options.followFinal ?? true;
  const pending2 = splitPath(p);
  const resolved2 = [];
  let links = 0;
  while (pending2.length > 0) {
    const part = pending2.shift();
    if (part === ".") continue;
    if (part === "..") {
      resolved2.pop();
      continue;
    }
    const candidate = import_node_path4.default.join(root, ...resolved2, part);
    if (pending2.length === 0 && !followFinal) {
      resolved2.push(part);
      break;
    }
    let isLink = false;
    try {
      isLink = (await (0, import_promises7.lstat)(candidate)).isSymbolicLink();
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!isLink) {
      resolved2.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BuildError("E_SYMLINK_LOOP", `too many levels of symbolic links resolving ${p} inside ${root}`, { data: { path: p } });
    }
    const target = await (0, import_promises7.readlink)(candidate);
    if (target.startsWith("/")) resolved2.length = 0;
    pending2.unshift(...splitPath(target));
  }
  return import_node_path4.default.join(root, ...resolved2);
}
function splitPath(p) {
  return p.split("/").filter((s) => s !== "");
}
function isNotFound(e) {
  return typeof e === "object" && e !== null && (e.code === "ENOENT" || e.code === "ENOTDIR");
}

// packages/builder/src/host-helper/index.ts
var import_node_child_process2 = require("node:child_process");
var import_node_fs4 = require("node:fs");
var import_node_net = __toESM(require("node:net"), 1);
var import_node_os = __toESM(require("node:os"), 1);
var import_node_path5 = __toESM(require("node:path"), 1);
var import_node_stream5 = require("node:stream");
var import_node_crypto3 = require("node:crypto");
var import_node_util2 = require("node:util");
var SYSCALLS = {
  x64: { mount: 165, umount2: 166, mknodat: 259 },
  arm64: { mount: 40, umount2: 39, mknodat: 33 },
  riscv64: { mount: 40, umount2: 39, mknodat: 33 },
  ia32: { mount: 21, umount2: 52, mknodat: 297 },
  arm: { mount: 21, umount2: 52 },
  s390x: { mount: 21, umount2: 52 },
  ppc64: { mount: 21, umount2: 52 }
};
var SCRIPT = `
use strict; use warnings; use Socket; use POSIX (); use Fcntl qw(:flock);
$| = 1; $/ = "\\0";
my ($SYS_MOUNT, $SYS_UMOUNT2, $SYS_MKNODAT) = @ARGV;
my (%locks, $lockSeq);
$SIG{CHLD} = sub { local ($!, $?); while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) { print "X$pid $?\\0"; } };
sub answer { print "R$_[0]\\0"; }
while (1) {
  my $n = <STDIN>;
  if (!defined $n) { next if $!{EINTR}; last; }
  chomp $n;
  my @f;
  for (1 .. $n) {
    my $x;
    do { $x = <STDIN>; } while (!defined $x && $!{EINTR});
    exit 0 unless defined $x;
    chomp $x; push @f, $x;
  }
  my $op = shift @f;
  if ($op eq 'mount') {
    my ($src, $target, $type, $data, $cwd) = @f;
    if ($cwd ne '' && !chdir($cwd)) { answer(0 + $!); next; }
    my $r = syscall($SYS_MOUNT, $src, $target, $type, 0, $data);
    my $e = 0 + $!;
    chdir('/');
    answer($r == 0 ? 0 : $e);
  } elsif ($op eq 'umount') {
    my ($target, $flags) = @f;
    answer(syscall($SYS_UMOUNT2, $target, 0 + $flags) == 0 ? 0 : 0 + $!);
  } elsif ($op eq 'mknod') {
    my ($path, $mode, $dev) = @f;
    if (!$SYS_MKNODAT) { answer(38); next; }
    # AT_FDCWD is -100; callers pass absolute paths.
    answer(syscall($SYS_MKNODAT, -100, $path, 0 + $mode, 0 + $dev) == 0 ? 0 : 0 + $!);
  } elsif ($op eq 'lock') {
    my ($file) = @f;
    my $fh;
    if (!open($fh, '>>', $file)) { answer(0 + $!); next; }
    if (!flock($fh, LOCK_EX | LOCK_NB)) { my $e = 0 + $!; close $fh; answer($e); next; }
    $locks{++$lockSeq} = $fh;
    answer("0 $lockSeq");
  } elsif ($op eq 'unlock') {
    my ($id) = @f;
    close(delete $locks{$id}) if exists $locks{$id};
    answer(0);
  } elsif ($op eq 'spawn') {
    my ($sock, $token, $cwd, @argv) = @f;
    my ($rd, $wr);
    if (!pipe($rd, $wr)) { answer(0 + $!); next; }
    my $pid = fork();
    if (!defined $pid) { answer(0 + $!); next; }
    if ($pid == 0) {
      close $rd;
      $SIG{CHLD} = 'DEFAULT';
      my $fail = sub { syswrite($wr, 0 + $!); POSIX::_exit(127); };
      for my $s (['out', \\*STDOUT], ['err', \\*STDERR]) {
        socket(my $c, AF_UNIX, SOCK_STREAM, 0) or $fail->();
        connect($c, pack_sockaddr_un($sock)) or $fail->();
        defined(syswrite($c, "$token $s->[0]\\n")) or $fail->();
        open($s->[1], '>&', $c) or $fail->();
        close $c;
      }
      open(STDIN, '<', '/dev/null') or $fail->();
      chdir($cwd) or $fail->();
      { no warnings 'exec'; exec { $argv[0] } @argv; }
      $fail->();
    }
    close $wr;
    my $buf = '';
    while (1) { my $r = sysread($rd, $buf, 32); last if defined $r; last unless $!{EINTR}; }
    close $rd;
    answer($buf eq '' ? "0 $pid" : "$buf $pid");
  } else {
    answer(22);
  }
}
`;
var helper;
var pending = [];
var received = "";
var exits = /* @__PURE__ */ new Map();
var exitWaiters = /* @__PURE__ */ new Map();
function unsupported() {
  return process.env.BUILD_IMAGE_HOST_HELPER === "0" || !SYSCALLS[process.arch];
}
function start() {
  const nr = SYSCALLS[process.arch];
  let child;
  try {
    child = (0, import_node_child_process2.spawn)("perl", ["-e", SCRIPT, String(nr.mount), String(nr.umount2), String(nr.mknodat ?? "")], { stdio: ["pipe", "pipe", "ignore"] });
  } catch {
    return null;
  }
  const fail2 = () => {
    if (helper === child) helper = null;
    const waiting = pending;
    pending = [];
    for (const w of waiting) w(void 0);
    const orphans = [...exitWaiters.values()];
    exitWaiters.clear();
    for (const w of orphans) w(9);
  };
  child.on("error", fail2);
  child.on("exit", fail2);
  child.stdin.on("error", fail2);
  child.stdout.setEncoding("latin1");
  child.stdout.on("data", (chunk) => {
    received += chunk;
    let nul;
    while ((nul = received.indexOf("\0")) >= 0) {
      const message = received.slice(0, nul);
      received = received.slice(nul + 1);
      if (message.startsWith("X")) {
        const [pid, status] = message.slice(1).split(" ").map(Number);
        const waiter = exitWaiters.get(pid);
        if (waiter) {
          exitWaiters.delete(pid);
          waiter(status);
        } else exits.set(pid, status);
      } else {
        pending.shift()?.(message.slice(1));
      }
    }
    refresh(child);
  });
  refresh(child);
  return child;
}
function refresh(child) {
  const busy = pending.length > 0 || exitWaiters.size > 0;
  const stdout = child.stdout;
  if (busy) {
    child.ref();
    stdout.ref?.();
  } else {
    child.unref();
    stdout.unref?.();
  }
}
function request(fields) {
  if (unsupported()) return Promise.resolve(void 0);
  if (helper === void 0) helper = start();
  const child = helper;
  if (!child || fields.some((f) => f.includes("\0"))) return Promise.resolve(void 0);
  const bytes = fields.map((f) => Buffer.from(f, "utf8").toString("latin1"));
  return new Promise((resolve5) => {
    pending.push(resolve5);
    refresh(child);
    child.stdin.write(`${bytes.length}\0${bytes.join("\0")}\0`, "latin1");
  });
}
async function requestErrno(fields) {
  const answer = await request(fields);
  return answer === void 0 ? -1 : Number(answer.split(" ")[0]);
}
function helperMount(source, target, type, data, cwd = "") {
  return requestErrno(["mount", source, target, type, data, cwd]);
}
function helperUnmount(target, flags = 0) {
  return requestErrno(["umount", target, String(flags)]);
}
function helperMknod(path28, mode, dev) {
  return requestErrno(["mknod", path28, String(mode), String(dev)]);
}
async function helperTryLock(file2) {
  const answer = await request(["lock", file2]);
  if (answer === void 0) return void 0;
  const [errno2, id] = answer.split(" ");
  if (errno2 === "0") return Number(id);
  if (Number(errno2) === import_node_os.default.constants.errno.EWOULDBLOCK) return "busy";
  throw Object.assign(new Error(`cannot lock ${file2}: ${(0, import_node_util2.getSystemErrorName)(-Number(errno2))}`), { errno: Number(errno2) });
}
async function helperUnlock(id) {
  await request(["unlock", String(id)]);
}
var outputServer;
function startOutputServer() {
  return new Promise((resolve5) => {
    let dir;
    try {
      dir = (0, import_node_fs4.mkdtempSync)(import_node_path5.default.join(import_node_os.default.tmpdir(), "bi-h-"));
    } catch {
      return resolve5(null);
    }
    const socketPath = import_node_path5.default.join(dir, "s");
    if (Buffer.byteLength(socketPath) > 100) {
      (0, import_node_fs4.rmSync)(dir, { recursive: true, force: true });
      return resolve5(null);
    }
    const waiting = /* @__PURE__ */ new Map();
    const server = import_node_net.default.createServer((socket) => {
      let head = Buffer.alloc(0);
      const onData = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const nl2 = head.indexOf(10);
        if (nl2 < 0) {
          if (head.length > 200) socket.destroy();
          return;
        }
        socket.off("data", onData);
        const name = head.subarray(0, nl2).toString("latin1");
        const target = waiting.get(name);
        if (!target) return void socket.destroy();
        waiting.delete(name);
        const rest = head.subarray(nl2 + 1);
        if (rest.length > 0) target.sink.write(rest);
        socket.pipe(target.sink);
        socket.once("close", () => {
          if (!target.sink.writableEnded) target.sink.end();
        });
      };
      socket.on("data", onData);
      socket.on("error", () => void 0);
    });
    server.on("error", () => resolve5(null));
    server.listen(socketPath, () => {
      server.unref();
      process.once("exit", () => (0, import_node_fs4.rmSync)(dir, { recursive: true, force: true }));
      resolve5({ path: socketPath, waiting, server });
    });
  });
}
var HelperChild = class {
  constructor(pid, stdout, stderr) {
    this.pid = pid;
    this.stdout = stdout;
    this.stderr = stderr;
  }
  pid;
  stdout;
  stderr;
  exitCode = null;
  signalCode = null;
  closed;
  closeListeners = [];
  on(event, listener) {
    if (event !== "close") return this;
    const onClose = listener;
    const closed = this.closed;
    if (closed) process.nextTick(() => onClose(...closed));
    else this.closeListeners.push(onClose);
    return this;
  }
  /** Records the end and calls the `close` listeners. */
  finish(code, signal) {
    this.exitCode = code;
    this.signalCode = signal;
    this.closed = [code, signal];
    for (const l of this.closeListeners.splice(0)) l(code, signal);
  }
};
var connecting = 0;
function holdServer(out, delta) {
  connecting += delta;
  if (connecting > 0) out.server.ref();
  else out.server.unref();
}
function waitExit(pid) {
  return new Promise((resolve5) => {
    const known = exits.get(pid);
    if (known !== void 0) {
      exits.delete(pid);
      return resolve5(known);
    }
    exitWaiters.set(pid, resolve5);
    if (helper) refresh(helper);
  });
}
function signalName(n) {
  return Object.entries(import_node_os.default.constants.signals).find(([, v]) => v === n)?.[0] ?? "SIGKILL";
}
async function helperSpawn(argv, cwd) {
  if (argv.length === 0 || helper === null || unsupported()) return void 0;
  const out = await (outputServer ??= startOutputServer());
  if (!out) return void 0;
  const token = (0, import_node_crypto3.randomBytes)(16).toString("hex");
  const names = [`${token} out`, `${token} err`];
  const sinks = [new import_node_stream5.PassThrough(), new import_node_stream5.PassThrough()];
  names.forEach((n, i) => out.waiting.set(n, { sink: sinks[i] }));
  const ended = sinks.map((sink) => new Promise((r) => sink.once("end", () => r())));
  const connected = sinks.map((sink) => new Promise((r) => sink.once("pipe", () => r())));
  holdServer(out, 1);
  const answer = await request(["spawn", out.path, token, cwd, ...argv]);
  const [errno2, pidText] = (answer ?? "-1").split(" ");
  if (errno2 !== "0") {
    for (const n of names) out.waiting.delete(n);
    holdServer(out, -1);
    if (pidText) void waitExit(Number(pidText));
    return void 0;
  }
  const child = new HelperChild(Number(pidText), sinks[0], sinks[1]);
  const status = waitExit(child.pid);
  void Promise.all(connected).then(() => holdServer(out, -1));
  void status.then(async (s) => {
    await Promise.all(ended);
    if ((s & 127) === 0) child.finish(s >> 8, null);
    else child.finish(null, signalName(s & 127));
  });
  return child;
}

// packages/builder/src/layer/apply.ts
var execFileP = (0, import_node_util3.promisify)(import_node_child_process3.execFile);
function errno(err) {
  return err?.code;
}
function lstatOrUndefined(path28) {
  return (0, import_node_fs5.lstatSync)(path28, { throwIfNoEntry: false });
}
var SMALL_FILE = 1024 * 1024;
async function readSmallBody(entry, size) {
  const chunks = [];
  let got = 0;
  for await (const chunk of entry) {
    chunks.push(chunk);
    got += chunk.length;
  }
  if (got !== size) throw new LayerError("E_LAYER_CORRUPT", `Tar entry "${entry.header.name}" has ${got} bytes, its header says ${size}.`, { data: { name: entry.header.name, size, got } });
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, got);
}
var S_IFIFO = 4096;
var S_IFCHR = 8192;
var S_IFBLK = 24576;
async function makeNode(path28, fileType, mode, major, minor) {
  if (major < 4096 && minor < 1048576) {
    const dev = minor & 255 | major << 8 | minor >> 8 << 20;
    if (await helperMknod(path28, fileType | mode, dev >>> 0) === 0) return;
  }
  const kind = fileType === S_IFIFO ? ["p"] : [fileType === S_IFCHR ? "c" : "b", String(major), String(minor)];
  await execFileP("mknod", ["-m", mode.toString(8), path28, ...kind]);
}
function cleanName(name) {
  const n = import_node_path6.posix.normalize(`/${name}`);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}
function paxNumber(pax, key) {
  const v = pax?.[key];
  if (v === void 0) return void 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : void 0;
}
async function applyLayer(rootDir, layer, options = {}) {
  const root = import_node_path6.posix.resolve(rootDir);
  (0, import_node_fs5.mkdirSync)(root, { recursive: true });
  const sameOwner = options.sameOwner ?? process.geteuid?.() === 0;
  const isRoot = process.geteuid?.() === 0;
  const warn = (w) => options.onWarning?.(w);
  const whiteouts = options.whiteouts ?? "apply";
  const unpacked = /* @__PURE__ */ new Set();
  const opaqueDone = /* @__PURE__ */ new Set();
  const dirTimes = [];
  let entries = 0;
  let size = 0;
  const parents = /* @__PURE__ */ new Map();
  const remove = (p) => {
    (0, import_node_fs5.rmSync)(p, { recursive: true, force: true });
    parents.clear();
  };
  const input = await decompressedStream(layer);
  const extract2 = tar.extract();
  input.on("error", (err) => extract2.destroy(err));
  input.pipe(extract2);
  function ensureParent(parent, name) {
    const st = lstatOrUndefined(parent);
    if (st?.isDirectory()) return;
    if (st) {
      throw new LayerError("E_LAYER_NOT_A_DIRECTORY", `Cannot extract "${name}": its parent ${parent.slice(root.length) || "/"} exists in the layer root and is not a directory.`, {
        data: { name }
      });
    }
    (0, import_node_fs5.mkdirSync)(parent, { recursive: true, mode: 493 });
  }
  async function parentOf2(name, tarName) {
    const dir = import_node_path6.posix.dirname(name);
    const cached = parents.get(dir);
    if (cached !== void 0) return cached;
    const parentAbs = await resolveInRoot(root, dir);
    if (parentAbs !== root && parentAbs.startsWith(`${root}/`)) ensureParent(parentAbs, tarName);
    parents.set(dir, parentAbs);
    return parentAbs;
  }
  function applyOpaque(dir) {
    let names;
    try {
      names = (0, import_node_fs5.readdirSync)(dir);
    } catch (err) {
      if (errno(err) === "ENOENT") return;
      throw err;
    }
    for (const name of names) {
      const p = import_node_path6.posix.join(dir, name);
      if (!unpacked.has(p)) {
        remove(p);
      } else if ((0, import_node_fs5.lstatSync)(p).isDirectory()) {
        applyOpaque(p);
      }
    }
  }
  for await (const raw of extract2) {
    const entry = raw;
    const header = entry.header;
    entries++;
    const name = cleanName(header.name);
    if (name === "/") {
      entry.resume();
      continue;
    }
    const parentAbs = await parentOf2(name, header.name);
    const base = import_node_path6.posix.basename(name);
    const target = import_node_path6.posix.join(parentAbs, base);
    if (target === root || !target.startsWith(`${root}/`)) {
      entry.resume();
      continue;
    }
    if (whiteouts === "overlay" && base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      if (base === WHITEOUT_OPAQUE) {
        setXattrSync(parentAbs, `${options.overlayXattrPrefix ?? "trusted.overlay."}opaque`, Buffer.from("y"));
        continue;
      }
      const original = base.slice(WHITEOUT_PREFIX.length);
      if (original === "" || original === "." || original === "..") {
        throw new LayerError("E_LAYER_INVALID_WHITEOUT", `Invalid whiteout "${header.name}": a whiteout must name a sibling entry (".wh.<name>").`, { data: { name: header.name } });
      }
      const wh = import_node_path6.posix.join(parentAbs, original);
      remove(wh);
      await makeNode(wh, S_IFCHR, 0, 0, 0);
      continue;
    }
    if (whiteouts === "apply" && base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      if (base === WHITEOUT_OPAQUE) {
        if (!opaqueDone.has(parentAbs)) {
          opaqueDone.add(parentAbs);
          applyOpaque(parentAbs);
        }
        continue;
      }
      const original = base.slice(WHITEOUT_PREFIX.length);
      if (original === "" || original === "." || original === "..") {
        throw new LayerError("E_LAYER_INVALID_WHITEOUT", `Invalid whiteout "${header.name}": a whiteout must name a sibling entry (".wh.<name>").`, { data: { name: header.name } });
      }
      remove(import_node_path6.posix.join(parentAbs, original));
      continue;
    }
    const type = header.type;
    const existing = lstatOrUndefined(target);
    if (existing && !(existing.isDirectory() && type === "directory")) remove(target);
    const mode = (header.mode ?? 0) & 4095;
    const uid = options.owner?.uid ?? paxNumber(header.pax, "uid") ?? header.uid ?? 0;
    const gid = options.owner?.gid ?? paxNumber(header.pax, "gid") ?? header.gid ?? 0;
    const mtime = paxNumber(header.pax, "mtime") ?? (header.mtime ? header.mtime.getTime() / 1e3 : 0);
    const chown4 = sameOwner || options.owner !== void 0;
    let fd;
    switch (type) {
      case "directory":
        entry.resume();
        if (!existing?.isDirectory()) (0, import_node_fs5.mkdirSync)(target, { mode: 448 });
        break;
      case "file":
      case "contiguous-file": {
        const flags = import_node_fs5.constants.O_WRONLY | import_node_fs5.constants.O_CREAT | import_node_fs5.constants.O_EXCL | import_node_fs5.constants.O_NOFOLLOW;
        const bytes = header.size ?? 0;
        if (bytes <= SMALL_FILE) {
          const body = bytes > 0 ? await readSmallBody(entry, bytes) : (entry.resume(), void 0);
          fd = (0, import_node_fs5.openSync)(target, flags, 384);
          try {
            for (let off = 0; body && off < body.length; ) off += (0, import_node_fs5.writeSync)(fd, body, off);
          } catch (err) {
            (0, import_node_fs5.closeSync)(fd);
            throw err;
          }
        } else {
          const fh = await (0, import_promises8.open)(target, flags, 384);
          await (0, import_promises9.pipeline)(entry, fh.createWriteStream());
        }
        size += bytes;
        break;
      }
      case "symlink":
        entry.resume();
        (0, import_node_fs5.symlinkSync)(header.linkname ?? "", target);
        break;
      case "link": {
        entry.resume();
        const linkName = cleanName(header.linkname ?? "");
        const linkParent = await resolveInRoot(root, import_node_path6.posix.dirname(linkName));
        const linkTarget = import_node_path6.posix.join(linkParent, import_node_path6.posix.basename(linkName));
        const st = linkName === "/" || !linkTarget.startsWith(`${root}/`) ? void 0 : lstatOrUndefined(linkTarget);
        if (!st || st.isDirectory()) {
          throw new LayerError(
            "E_LAYER_HARDLINK_TARGET",
            `Hardlink "${header.name}" points to "${header.linkname}", which ${st ? "is a directory" : "does not exist in the layer root"}; a hardlink must name a file extracted earlier.`,
            { data: { name: header.name, linkname: header.linkname } }
          );
        }
        (0, import_node_fs5.linkSync)(linkTarget, target);
        break;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        entry.resume();
        if (type !== "fifo" && !isRoot) {
          warn({ code: "W_LAYER_DEVICE_SKIPPED", path: name, message: `Device ${name} skipped: creating device nodes needs root.` });
          continue;
        }
        const fileType = type === "fifo" ? S_IFIFO : type === "character-device" ? S_IFCHR : S_IFBLK;
        try {
          await makeNode(target, fileType, mode, header.devmajor ?? 0, header.devminor ?? 0);
        } catch (err) {
          warn({ code: "W_LAYER_DEVICE_SKIPPED", path: name, message: `${type} ${name} skipped: ${err.message.trim()}` });
          continue;
        }
        break;
      }
      default:
        entry.resume();
        throw new LayerError("E_LAYER_UNSUPPORTED_ENTRY", `Tar entry "${header.name}" has a type this engine cannot apply (${String(type)}).`, { data: { name: header.name, type: String(type) } });
    }
    try {
      if (chown4) {
        if (fd !== void 0) (0, import_node_fs5.fchownSync)(fd, uid, gid);
        else (0, import_node_fs5.lchownSync)(target, uid, gid);
      }
      if (options.xattrs !== false && header.pax) {
        for (const [key, value] of Object.entries(header.pax)) {
          if (!key.startsWith("SCHILY.xattr.")) continue;
          const xname = key.slice("SCHILY.xattr.".length);
          if (value.includes("\uFFFD")) {
            warn({ code: "W_LAYER_XATTR_SKIPPED", path: name, message: `xattr ${xname} on ${name} not set: its binary value cannot be recovered from the PAX header by the tar reader.` });
            continue;
          }
          try {
            setXattrSync(target, xname, Buffer.from(value, "utf8"));
          } catch (err) {
            warn({ code: "W_LAYER_XATTR_SKIPPED", path: name, message: `xattr ${xname} on ${name} not set: ${err.message}` });
          }
        }
      }
      if (fd !== void 0) (0, import_node_fs5.fchmodSync)(fd, mode);
      else if (type !== "symlink") (0, import_node_fs5.chmodSync)(target, mode);
      if (type === "directory") dirTimes.push([target, mtime]);
      else if (fd !== void 0) (0, import_node_fs5.futimesSync)(fd, mtime, mtime);
      else (0, import_node_fs5.lutimesSync)(target, mtime, mtime);
    } finally {
      if (fd !== void 0) (0, import_node_fs5.closeSync)(fd);
    }
    unpacked.add(target);
  }
  for (const [dir, mtime] of dirTimes) {
    try {
      (0, import_node_fs5.lutimesSync)(dir, mtime, mtime);
    } catch (err) {
      if (errno(err) !== "ENOENT") throw err;
    }
  }
  return { entries, size };
}

// packages/builder/src/exporter/rootfs.ts
async function exportRootfs(image, store, dir, options = {}) {
  for (const layer of image.manifest.layers) {
    await applyLayer(dir, store.get(layer.digest), options);
  }
}

// packages/builder/src/exporter/rootfsTar.ts
var import_node_fs6 = require("node:fs");
var import_promises10 = require("node:fs/promises");
var import_node_os2 = __toESM(require("node:os"), 1);
var import_node_path7 = __toESM(require("node:path"), 1);
var import_node_stream6 = require("node:stream");
var import_promises11 = require("node:stream/promises");
async function exportRootfsTar(image, store, destination, options = {}) {
  const dir = await (0, import_promises10.mkdtemp)(import_node_path7.default.join(import_node_os2.default.tmpdir(), "build-image-rootfs-"));
  try {
    await exportRootfs(image, store, dir);
    const out = typeof destination === "string" ? (0, import_node_fs6.createWriteStream)(destination) : destination;
    await (0, import_promises11.pipeline)(import_node_stream6.Readable.from(tarStream(directoryEntries(dir, { xattrs: "capability" }), options), { objectMode: false, highWaterMark: 1024 * 1024 }), out);
  } finally {
    await (0, import_promises10.rm)(dir, { recursive: true, force: true });
  }
}

// node_modules/csv-parse/lib/api/CsvError.js
var CsvError = class _CsvError extends Error {
  constructor(code, message, options, ...contexts) {
    if (Array.isArray(message)) message = message.join(" ").trim();
    super(message);
    if (Error.captureStackTrace !== void 0) {
      Error.captureStackTrace(this, _CsvError);
    }
    this.code = code;
    for (const context of contexts) {
      for (const key in context) {
        const value = context[key];
        this[key] = Buffer.isBuffer(value) ? value.toString(options.encoding) : value == null ? value : JSON.parse(JSON.stringify(value));
      }
    }
  }
};

// node_modules/csv-parse/lib/utils/is_object.js
var is_object = function(obj) {
  return typeof obj === "object" && obj !== null && !Array.isArray(obj);
};

// node_modules/csv-parse/lib/api/normalize_columns_array.js
var normalize_columns_array = function(columns) {
  const normalizedColumns = [];
  for (let i = 0, l = columns.length; i < l; i++) {
    const column = columns[i];
    if (column === void 0 || column === null || column === false) {
      normalizedColumns[i] = { disabled: true };
    } else if (typeof column === "string" || typeof column === "number") {
      normalizedColumns[i] = { name: `${column}` };
    } else if (is_object(column)) {
      if (typeof column.name !== "string") {
        throw new CsvError("CSV_OPTION_COLUMNS_MISSING_NAME", [
          "Option columns missing name:",
          `property "name" is required at position ${i}`,
          "when column is an object literal"
        ]);
      }
      normalizedColumns[i] = column;
    } else {
      throw new CsvError("CSV_INVALID_COLUMN_DEFINITION", [
        "Invalid column definition:",
        "expect a string or a literal object,",
        `got ${JSON.stringify(column)} at position ${i}`
      ]);
    }
  }
  return normalizedColumns;
};

// node_modules/csv-parse/lib/utils/ResizeableBuffer.js
var ResizeableBuffer = class {
  constructor(size = 100) {
    this.size = size;
    this.length = 0;
    this.buf = Buffer.allocUnsafe(size);
  }
  prepend(val) {
    if (Buffer.isBuffer(val)) {
      const length = this.length + val.length;
      if (length >= this.size) {
        this.resize();
        if (length >= this.size) {
          throw Error("INVALID_BUFFER_STATE");
        }
      }
      const buf = this.buf;
      this.buf = Buffer.allocUnsafe(this.size);
      val.copy(this.buf, 0);
      buf.copy(this.buf, val.length);
      this.length += val.length;
    } else {
      const length = this.length++;
      if (length === this.size) {
        this.resize();
      }
      const buf = this.clone();
      this.buf[0] = val;
      buf.copy(this.buf, 1, 0, length);
    }
  }
  append(val) {
    const length = this.length++;
    if (length === this.size) {
      this.resize();
    }
    this.buf[length] = val;
  }
  clone() {
    return Buffer.from(this.buf.slice(0, this.length));
  }
  resize() {
    const length = this.length;
    this.size = this.size * 2;
    const buf = Buffer.allocUnsafe(this.size);
    this.buf.copy(buf, 0, 0, length);
    this.buf = buf;
  }
  toString(encoding) {
    if (encoding) {
      return this.buf.toString(encoding, 0, this.length);
    } else {
      return Uint8Array.prototype.slice.call(this.buf.slice(0, this.length));
    }
  }
  toJSON() {
    return this.toString("utf8");
  }
  reset() {
    this.length = 0;
  }
};
var ResizeableBuffer_default = ResizeableBuffer;

// node_modules/csv-parse/lib/api/init_state.js
var init_state = function(options) {
  const timchars = [
    // Basic Latin
    32,
    // [Space](https://www.fileformat.info/info/unicode/char/0020/index.htm)
    9,
    // [CHARACTER TABULATION (HT)](https://www.fileformat.info/info/unicode/char/0009/index.htm)
    10,
    // [LINE FEED (LF)](https://www.fileformat.info/info/unicode/char/000a/index.htm)
    13,
    // [CARRIAGE RETURN (CR)](https://www.fileformat.info/info/unicode/char/000d/index.htm)
    12,
    // [FORM FEED (FF)](https://www.fileformat.info/info/unicode/char/000c/index.htm)
    11,
    // [LINE TABULATION (VT)](https://www.fileformat.info/info/unicode/char/000b/index.htm)
    // Latin-1 Supplement
    160,
    // [NO-BREAK SPACE (NBSP)](https://www.fileformat.info/info/unicode/char/00a0/index.htm)
    // Ogham
    5760,
    // [OGHAM SPACE MARK](https://www.fileformat.info/info/unicode/char/1680/index.htm)
    // General Punctuation
    8192,
    // [EN QUAD](https://www.fileformat.info/info/unicode/char/2000/index.htm)
    8193,
    // [EM QUAD](https://www.fileformat.info/info/unicode/char/2001/index.htm)
    8194,
    // [EN SPACE](https://www.fileformat.info/info/unicode/char/2002/index.htm)
    8195,
    // [EM SPACE](https://www.fileformat.info/info/unicode/char/2003/index.htm)
    8196,
    // [THREE-PER-EM SPACE](https://www.fileformat.info/info/unicode/char/2004/index.htm)
    8197,
    // [FOUR-PER-EM SPACE](https://www.fileformat.info/info/unicode/char/2005/index.htm)
    8198,
    // [SIX-PER-EM SPACE](https://www.fileformat.info/info/unicode/char/2006/index.htm)
    8199,
    // [FIGURE SPACE](https://www.fileformat.info/info/unicode/char/2007/index.htm)
    8200,
    // [PUNCTUATION SPACE](https://www.fileformat.info/info/unicode/char/2008/index.htm)
    8201,
    // [THIN SPACE](https://www.fileformat.info/info/unicode/char/2009/index.htm)
    8202,
    // [HAIR SPACE](https://www.fileformat.info/info/unicode/char/200a/index.htm)
    8232,
    // [LINE SEPARATOR](https://www.fileformat.info/info/unicode/char/2028/index.htm)
    8233,
    // [PARAGRAPH SEPARATOR](https://www.fileformat.info/info/unicode/char/2029/index.htm)
    8239,
    // [NARROW NO-BREAK SPACE (NNBSP)](https://www.fileformat.info/info/unicode/char/202f/index.htm)
    8287,
    // [MEDIUM MATHEMATICAL SPACE (MMSP)](https://www.fileformat.info/info/unicode/char/205f/index.htm)
    12288,
    // [IDEOGRAPHIC SPACE](https://www.fileformat.info/info/unicode/char/3000/index.htm)
    65279
    // [ZERO WIDTH NO-BREAK SPACE (BOM)](https://www.fileformat.info/info/unicode/char/feff/index.htm)
  ].reduce((acc, codepoint) => {
    const encoded = Buffer.from(
      String.fromCharCode(codepoint),
      options.encoding
    );
    if (codepoint !== 63 && encoded.length === 1 && encoded[0] === 63) {
      return acc;
    }
    acc.push(encoded);
    return acc;
  }, []);
  const timcharFirstBytes = new Uint8Array(256);
  for (const t of timchars) timcharFirstBytes[t[0]] = 1;
  return {
    bomSkipped: false,
    bufBytesStart: 0,
    castField: options.cast_function,
    commenting: false,
    delimiterBufPrevious: void 0,
    delimiterDiscovered: false,
    // Current error encountered by a record
    error: void 0,
    enabled: options.from_line === 1,
    escaping: false,
    escapeIsQuote: Buffer.isBuffer(options.escape) && Buffer.isBuffer(options.quote) && Buffer.compare(options.escape, options.quote) === 0,
    // columns can be `false`, `true`, `Array`
    expectedRecordLength: Array.isArray(options.columns) ? options.columns.length : void 0,
    field: new ResizeableBuffer_default(20),
    firstLineToHeaders: options.cast_first_line_to_header,
    needMoreDataSize: Math.max(
      // Skip if the remaining buffer smaller than comment
      options.comment !== null ? options.comment.length : 0,
      ...options.delimiter ? options.delimiter.map((delimiter) => delimiter.length) : [],
      // Auto discovery of delimiter is limited to 1 character
      options.delimiter_auto ? 1 : 0,
      // Skip if the remaining buffer can be escape sequence
      options.quote !== null ? options.quote.length : 0,
      ...timchars.map((t) => t.length)
    ),
    previousBuf: void 0,
    quoting: false,
    stop: false,
    rawBuffer: new ResizeableBuffer_default(100),
    record: [],
    recordHasError: false,
    record_length: 0,
    recordDelimiterMaxLength: options.record_delimiter.length === 0 ? 0 : Math.max(...options.record_delimiter.map((v) => v.length)),
    trimChars: [
      Buffer.from(" ", options.encoding)[0],
      Buffer.from("	", options.encoding)[0]
    ],
    wasQuoting: false,
    wasRowDelimiter: false,
    timchars,
    timcharFirstBytes
  };
};

// node_modules/csv-parse/lib/utils/underscore.js
var underscore = function(str) {
  return str.replace(/([A-Z])/g, function(_, match) {
    return "_" + match.toLowerCase();
  });
};

// node_modules/csv-parse/lib/api/normalize_options.js
var normalize_options = function(opts) {
  const options = {};
  for (const opt in opts) {
    options[underscore(opt)] = opts[opt];
  }
  if (options.encoding === void 0 || options.encoding === true) {
    options.encoding = "utf8";
  } else if (options.encoding === null || options.encoding === false) {
    options.encoding = null;
  } else if (typeof options.encoding !== "string" && options.encoding !== null) {
    throw new CsvError(
      "CSV_INVALID_OPTION_ENCODING",
      [
        "Invalid option encoding:",
        "encoding must be a string or null to return a buffer,",
        `got ${JSON.stringify(options.encoding)}`
      ],
      options
    );
  }
  if (options.bom === void 0 || options.bom === null || options.bom === false) {
    options.bom = false;
  } else if (options.bom !== true) {
    throw new CsvError(
      "CSV_INVALID_OPTION_BOM",
      [
        "Invalid option bom:",
        "bom must be true,",
        `got ${JSON.stringify(options.bom)}`
      ],
      options
    );
  }
  options.cast_function = null;
  if (options.cast === void 0 || options.cast === null || options.cast === false || options.cast === "") {
    options.cast = void 0;
  } else if (typeof options.cast === "function") {
    options.cast_function = options.cast;
    options.cast = true;
  } else if (options.cast !== true) {
    throw new CsvError(
      "CSV_INVALID_OPTION_CAST",
      [
        "Invalid option cast:",
        "cast must be true or a function,",
        `got ${JSON.stringify(options.cast)}`
      ],
      options
    );
  }
  if (options.cast_date === void 0 || options.cast_date === null || options.cast_date === false || options.cast_date === "") {
    options.cast_date = false;
  } else if (options.cast_date === true) {
    options.cast_date = function(value) {
      const date = Date.parse(value);
      return !isNaN(date) ? new Date(date) : value;
    };
  } else if (typeof options.cast_date !== "function") {
    throw new CsvError(
      "CSV_INVALID_OPTION_CAST_DATE",
      [
        "Invalid option cast_date:",
        "cast_date must be true or a function,",
        `got ${JSON.stringify(options.cast_date)}`
      ],
      options
    );
  }
  options.cast_first_line_to_header = void 0;
  if (options.columns === true) {
    options.cast_first_line_to_header = void 0;
  } else if (typeof options.columns === "function") {
    options.cast_first_line_to_header = options.columns;
    options.columns = true;
  } else if (Array.isArray(options.columns)) {
    options.columns = normalize_columns_array(options.columns);
  } else if (options.columns === void 0 || options.columns === null || options.columns === false) {
    options.columns = false;
  } else {
    throw new CsvError(
      "CSV_INVALID_OPTION_COLUMNS",
      [
        "Invalid option columns:",
        "expect an array, a function or true,",
        `got ${JSON.stringify(options.columns)}`
      ],
      options
    );
  }
  if (options.group_columns_by_name === void 0 || options.group_columns_by_name === null || options.group_columns_by_name === false) {
    options.group_columns_by_name = false;
  } else if (options.group_columns_by_name !== true) {
    throw new CsvError(
      "CSV_INVALID_OPTION_GROUP_COLUMNS_BY_NAME",
      [
        "Invalid option group_columns_by_name:",
        "expect an boolean,",
        `got ${JSON.stringify(options.group_columns_by_name)}`
      ],
      options
    );
  } else if (options.columns === false) {
    throw new CsvError(
      "CSV_INVALID_OPTION_GROUP_COLUMNS_BY_NAME",
      [
        "Invalid option group_columns_by_name:",
        "the `columns` mode must be activated."
      ],
      options
    );
  }
  if (options.comment === void 0 || options.comment === null || options.comment === false || options.comment === "") {
    options.comment = null;
  } else {
    if (typeof options.comment === "string") {
      options.comment = Buffer.from(options.comment, options.encoding);
    }
    if (!Buffer.isBuffer(options.comment)) {
      throw new CsvError(
        "CSV_INVALID_OPTION_COMMENT",
        [
          "Invalid option comment:",
          "comment must be a buffer or a string,",
          `got ${JSON.stringify(options.comment)}`
        ],
        options
      );
    }
  }
  if (options.comment_no_infix === void 0 || options.comment_no_infix === null || options.comment_no_infix === false) {
    options.comment_no_infix = false;
  } else if (options.comment_no_infix !== true) {
    throw new CsvError(
      "CSV_INVALID_OPTION_COMMENT",
      [
        "Invalid option comment_no_infix:",
        "value must be a boolean,",
        `got ${JSON.stringify(options.comment_no_infix)}`
      ],
      options
    );
  }
  if (options.delimiter_auto === void 0 || options.delimiter_auto === null || options.delimiter_auto === false) {
    options.delimiter_auto = false;
  } else if (options.delimiter_auto === true) {
    options.delimiter_auto = {};
  } else if (!is_object(options.delimiter_auto)) {
    throw new CsvError(
      "CSV_INVALID_OPTION_DELIMITER_AUTO",
      [
        "Invalid option delimiter_auto:",
        "delimiter_auto must be a boolean or a configuration object,",
        `got ${JSON.stringify(options.delimiter_auto)}`
      ],
      options
    );
  }
  if (options.delimiter_auto) {
    if (options.delimiter_auto.preferred === void 0)
      options.delimiter_auto.preferred = {
        [",".charCodeAt(0)]: 1.8,
        ["	".charCodeAt(0)]: 1.8,
        [";".charCodeAt(0)]: 1.6,
        [" ".charCodeAt(0)]: 1.6,
        [":".charCodeAt(0)]: 1.5,
        [".".charCodeAt(0)]: 1.4,
        ["/".charCodeAt(0)]: 1.4
      };
    else if (!is_object(options.delimiter_auto.preferred)) {
      throw new CsvError(
        "CSV_INVALID_OPTION_DELIMITER_AUTO",
        [
          "Invalid option delimiter_auto:",
          "preferred must be an object,",
          `got ${JSON.stringify(options.delimiter_auto.preferred)}`
        ],
        options
      );
    }
    if (options.delimiter_auto.score === void 0)
      options.delimiter_auto.score = (info, options2) => {
        return (info.total - info.std) * (options2.preferred[info.char_code] || 1);
      };
    else if (typeof options.delimiter_auto.score !== "function") {
      throw new CsvError(
        "CSV_INVALID_OPTION_DELIMITER_AUTO",
        [
          "Invalid option delimiter_auto:",
          "score must be a function,",
          `got ${JSON.stringify(options.delimiter_auto.score)}`
        ],
        options
      );
    }
    if (options.delimiter_auto.size === void 0)
      options.delimiter_auto.size = 2048;
    else if (typeof options.delimiter_auto.size !== "number") {
      throw new CsvError(
        "CSV_INVALID_OPTION_DELIMITER_AUTO",
        [
          "Invalid option delimiter_auto:",
          "size must be a number,",
          `got ${JSON.stringify(options.delimiter_auto.size)}`
        ],
        options
      );
    }
  }
  const delimiter_json = JSON.stringify(options.delimiter);
  if (options.delimiter_auto !== false) {
    options.delimiter = [];
  }
  if (!Array.isArray(options.delimiter)) {
    if (options.delimiter === void 0 || options.delimiter === null || options.delimiter === false) {
      options.delimiter = Buffer.from(",", options.encoding);
    }
    options.delimiter = [options.delimiter];
  }
  options.delimiter = options.delimiter.map(function(delimiter) {
    if (typeof delimiter === "string") {
      delimiter = Buffer.from(delimiter, options.encoding);
    }
    if (!Buffer.isBuffer(delimiter) || delimiter.length === 0) {
      throw new CsvError(
        "CSV_INVALID_OPTION_DELIMITER",
        [
          "Invalid option delimiter:",
          "delimiter must be a non empty string or buffer or array of string|buffer,",
          `got ${delimiter_json}`
        ],
        options
      );
    }
    return delimiter;
  });
  if (options.escape === void 0 || options.escape === true) {
    options.escape = Buffer.from('"', options.encoding);
  } else if (typeof options.escape === "string") {
    options.escape = Buffer.from(options.escape, options.encoding);
  } else if (options.escape === null || options.escape === false) {
    options.escape = null;
  }
  if (options.escape !== null) {
    if (!Buffer.isBuffer(options.escape)) {
      throw new Error(
        `Invalid Option: escape must be a buffer, a string or a boolean, got ${JSON.stringify(options.escape)}`
      );
    }
  }
  if (options.from === void 0 || options.from === null) {
    options.from = 1;
  } else {
    if (typeof options.from === "string" && /\d+/.test(options.from)) {
      options.from = parseInt(options.from);
    }
    if (Number.isInteger(options.from)) {
      if (options.from < 0) {
        throw new Error(
          `Invalid Option: from must be a positive integer, got ${JSON.stringify(opts.from)}`
        );
      }
    } else {
      throw new Error(
        `Invalid Option: from must be an integer, got ${JSON.stringify(options.from)}`
      );
    }
  }
  if (options.from_line === void 0 || options.from_line === null) {
    options.from_line = 1;
  } else {
    if (typeof options.from_line === "string" && /\d+/.test(options.from_line)) {
      options.from_line = parseInt(options.from_line);
    }
    if (Number.isInteger(options.from_line)) {
      if (options.from_line <= 0) {
        throw new Error(
          `Invalid Option: from_line must be a positive integer greater than 0, got ${JSON.stringify(opts.from_line)}`
        );
      }
    } else {
      throw new Error(
        `Invalid Option: from_line must be an integer, got ${JSON.stringify(opts.from_line)}`
      );
    }
  }
  if (options.ignore_last_delimiters === void 0 || options.ignore_last_delimiters === null) {
    options.ignore_last_delimiters = false;
  } else if (typeof options.ignore_last_delimiters === "number") {
    options.ignore_last_delimiters = Math.floor(options.ignore_last_delimiters);
    if (options.ignore_last_delimiters === 0) {
      options.ignore_last_delimiters = false;
    }
  } else if (typeof options.ignore_last_delimiters !== "boolean") {
    throw new CsvError(
      "CSV_INVALID_OPTION_IGNORE_LAST_DELIMITERS",
      [
        "Invalid option `ignore_last_delimiters`:",
        "the value must be a boolean value or an integer,",
        `got ${JSON.stringify(options.ignore_last_delimiters)}`
      ],
      options
    );
  }
  if (options.ignore_last_delimiters === true && options.columns === false) {
    throw new CsvError(
      "CSV_IGNORE_LAST_DELIMITERS_REQUIRES_COLUMNS",
      [
        "The option `ignore_last_delimiters`",
        "requires the activation of the `columns` option"
      ],
      options
    );
  }
  if (options.info === void 0 || options.info === null || options.info === false) {
    options.info = false;
  } else if (options.info !== true) {
    throw new Error(
      `Invalid Option: info must be true, got ${JSON.stringify(options.info)}`
    );
  }
  if (options.max_record_size === void 0 || options.max_record_size === null || options.max_record_size === false) {
    options.max_record_size = 0;
  } else if (Number.isInteger(options.max_record_size) && options.max_record_size >= 0) {
  } else if (typeof options.max_record_size === "string" && /\d+/.test(options.max_record_size)) {
    options.max_record_size = parseInt(options.max_record_size);
  } else {
    throw new Error(
      `Invalid Option: max_record_size must be a positive integer, got ${JSON.stringify(options.max_record_size)}`
    );
  }
  if (options.objname === void 0 || options.objname === null || options.objname === false) {
    options.objname = void 0;
  } else if (Buffer.isBuffer(options.objname)) {
    if (options.objname.length === 0) {
      throw new Error(`Invalid Option: objname must be a non empty buffer`);
    }
    if (options.encoding === null) {
    } else {
      options.objname = options.objname.toString(options.encoding);
    }
  } else if (typeof options.objname === "string") {
    if (options.objname.length === 0) {
      throw new Error(`Invalid Option: objname must be a non empty string`);
    }
  } else if (typeof options.objname === "number") {
  } else {
    throw new Error(
      `Invalid Option: objname must be a string or a buffer, got ${options.objname}`
    );
  }
  if (options.objname !== void 0) {
    if (typeof options.objname === "number") {
      if (options.columns !== false) {
        throw Error(
          "Invalid Option: objname index cannot be combined with columns or be defined as a field"
        );
      }
    } else {
      if (options.columns === false) {
        throw Error(
          "Invalid Option: objname field must be combined with columns or be defined as an index"
        );
      }
    }
  }
  if (options.on_record === void 0 || options.on_record === null) {
    options.on_record = void 0;
  } else if (typeof options.on_record !== "function") {
    throw new CsvError(
      "CSV_INVALID_OPTION_ON_RECORD",
      [
        "Invalid option `on_record`:",
        "expect a function,",
        `got ${JSON.stringify(options.on_record)}`
      ],
      options
    );
  }
  if (options.on_skip !== void 0 && options.on_skip !== null && typeof options.on_skip !== "function") {
    throw new Error(
      `Invalid Option: on_skip must be a function, got ${JSON.stringify(options.on_skip)}`
    );
  }
  if (options.quote === null || options.quote === false || options.quote === "") {
    options.quote = null;
  } else {
    if (options.quote === void 0 || options.quote === true) {
      options.quote = Buffer.from('"', options.encoding);
    } else if (typeof options.quote === "string") {
      options.quote = Buffer.from(options.quote, options.encoding);
    }
    if (!Buffer.isBuffer(options.quote)) {
      throw new Error(
        `Invalid Option: quote must be a buffer or a string, got ${JSON.stringify(options.quote)}`
      );
    }
  }
  if (options.raw === void 0 || options.raw === null || options.raw === false) {
    options.raw = false;
  } else if (options.raw !== true) {
    throw new Error(
      `Invalid Option: raw must be true, got ${JSON.stringify(options.raw)}`
    );
  }
  if (options.record_delimiter === void 0) {
    options.record_delimiter = [];
  } else if (typeof options.record_delimiter === "string" || Buffer.isBuffer(options.record_delimiter)) {
    if (options.record_delimiter.length === 0) {
      throw new CsvError(
        "CSV_INVALID_OPTION_RECORD_DELIMITER",
        [
          "Invalid option `record_delimiter`:",
          "value must be a non empty string or buffer,",
          `got ${JSON.stringify(options.record_delimiter)}`
        ],
        options
      );
    }
    options.record_delimiter = [options.record_delimiter];
  } else if (!Array.isArray(options.record_delimiter)) {
    throw new CsvError(
      "CSV_INVALID_OPTION_RECORD_DELIMITER",
      [
        "Invalid option `record_delimiter`:",
        "value must be a string, a buffer or array of string|buffer,",
        `got ${JSON.stringify(options.record_delimiter)}`
      ],
      options
    );
  }
  options.record_delimiter = options.record_delimiter.map(function(rd, i) {
    if (typeof rd !== "string" && !Buffer.isBuffer(rd)) {
      throw new CsvError(
        "CSV_INVALID_OPTION_RECORD_DELIMITER",
        [
          "Invalid option `record_delimiter`:",
          "value must be a string, a buffer or array of string|buffer",
          `at index ${i},`,
          `got ${JSON.stringify(rd)}`
        ],
        options
      );
    } else if (rd.length === 0) {
      throw new CsvError(
        "CSV_INVALID_OPTION_RECORD_DELIMITER",
        [
          "Invalid option `record_delimiter`:",
          "value must be a non empty string or buffer",
          `at index ${i},`,
          `got ${JSON.stringify(rd)}`
        ],
        options
      );
    }
    if (typeof rd === "string") {
      rd = Buffer.from(rd, options.encoding);
    }
    return rd;
  });
  if (typeof options.relax_column_count === "boolean") {
  } else if (options.relax_column_count === void 0 || options.relax_column_count === null) {
    options.relax_column_count = false;
  } else {
    throw new Error(
      `Invalid Option: relax_column_count must be a boolean, got ${JSON.stringify(options.relax_column_count)}`
    );
  }
  if (typeof options.relax_column_count_less === "boolean") {
  } else if (options.relax_column_count_less === void 0 || options.relax_column_count_less === null) {
    options.relax_column_count_less = false;
  } else {
    throw new Error(
      `Invalid Option: relax_column_count_less must be a boolean, got ${JSON.stringify(options.relax_column_count_less)}`
    );
  }
  if (typeof options.relax_column_count_more === "boolean") {
  } else if (options.relax_column_count_more === void 0 || options.relax_column_count_more === null) {
    options.relax_column_count_more = false;
  } else {
    throw new Error(
      `Invalid Option: relax_column_count_more must be a boolean, got ${JSON.stringify(options.relax_column_count_more)}`
    );
  }
  if (typeof options.relax_quotes === "boolean") {
  } else if (options.relax_quotes === void 0 || options.relax_quotes === null) {
    options.relax_quotes = false;
  } else {
    throw new Error(
      `Invalid Option: relax_quotes must be a boolean, got ${JSON.stringify(options.relax_quotes)}`
    );
  }
  if (typeof options.skip_empty_lines === "boolean") {
  } else if (options.skip_empty_lines === void 0 || options.skip_empty_lines === null) {
    options.skip_empty_lines = false;
  } else {
    throw new Error(
      `Invalid Option: skip_empty_lines must be a boolean, got ${JSON.stringify(options.skip_empty_lines)}`
    );
  }
  if (typeof options.skip_records_with_empty_values === "boolean") {
  } else if (options.skip_records_with_empty_values === void 0 || options.skip_records_with_empty_values === null) {
    options.skip_records_with_empty_values = false;
  } else {
    throw new Error(
      `Invalid Option: skip_records_with_empty_values must be a boolean, got ${JSON.stringify(options.skip_records_with_empty_values)}`
    );
  }
  if (typeof options.skip_records_with_error === "boolean") {
  } else if (options.skip_records_with_error === void 0 || options.skip_records_with_error === null) {
    options.skip_records_with_error = false;
  } else {
    throw new Error(
      `Invalid Option: skip_records_with_error must be a boolean, got ${JSON.stringify(options.skip_records_with_error)}`
    );
  }
  if (options.rtrim === void 0 || options.rtrim === null || options.rtrim === false) {
    options.rtrim = false;
  } else if (options.rtrim !== true) {
    throw new Error(
      `Invalid Option: rtrim must be a boolean, got ${JSON.stringify(options.rtrim)}`
    );
  }
  if (options.ltrim === void 0 || options.ltrim === null || options.ltrim === false) {
    options.ltrim = false;
  } else if (options.ltrim !== true) {
    throw new Error(
      `Invalid Option: ltrim must be a boolean, got ${JSON.stringify(options.ltrim)}`
    );
  }
  if (options.trim === void 0 || options.trim === null || options.trim === false) {
    options.trim = false;
  } else if (options.trim !== true) {
    throw new Error(
      `Invalid Option: trim must be a boolean, got ${JSON.stringify(options.trim)}`
    );
  }
  if (options.trim === true && opts.ltrim !== false) {
    options.ltrim = true;
  } else if (options.ltrim !== true) {
    options.ltrim = false;
  }
  if (options.trim === true && opts.rtrim !== false) {
    options.rtrim = true;
  } else if (options.rtrim !== true) {
    options.rtrim = false;
  }
  if (options.to === void 0 || options.to === null) {
    options.to = -1;
  } else if (options.to !== -1) {
    if (typeof options.to === "string" && /\d+/.test(options.to)) {
      options.to = parseInt(options.to);
    }
    if (Number.isInteger(options.to)) {
      if (options.to <= 0) {
        throw new Error(
          `Invalid Option: to must be a positive integer greater than 0, got ${JSON.stringify(opts.to)}`
        );
      }
    } else {
      throw new Error(
        `Invalid Option: to must be an integer, got ${JSON.stringify(opts.to)}`
      );
    }
  }
  if (options.to_line === void 0 || options.to_line === null) {
    options.to_line = -1;
  } else if (options.to_line !== -1) {
    if (typeof options.to_line === "string" && /\d+/.test(options.to_line)) {
      options.to_line = parseInt(options.to_line);
    }
    if (Number.isInteger(options.to_line)) {
      if (options.to_line <= 0) {
        throw new Error(
          `Invalid Option: to_line must be a positive integer greater than 0, got ${JSON.stringify(opts.to_line)}`
        );
      }
    } else {
      throw new Error(
        `Invalid Option: to_line must be an integer, got ${JSON.stringify(opts.to_line)}`
      );
    }
  }
  return options;
};

// node_modules/csv-parse/lib/utils/delimiter_discover.js
var delimiter_discover = function(records, options) {
  if (!options) {
    ({ delimiter_auto: options } = normalize_options({ delimiter_auto: true }));
  }
  if (typeof records === "string") {
    records = Buffer.from(records);
  }
  if (Buffer.isBuffer(records)) {
    records = ((data) => {
      const records2 = [];
      const parser = transform({ delimiter: [] });
      const push = (record) => records2.push(record);
      const close = () => {
      };
      const error = parser.parse(data, true, push, close);
      if (error !== void 0) throw error;
      return records2;
    })(records);
  }
  const info = Array(127).fill().map(() => ({ lines: [] }));
  records.map(([record], line) => {
    for (let i = 0, l = record.length; i < l; i++) {
      const code = record.charCodeAt(i);
      if (info[code].lines[line] === void 0) info[code].lines[line] = 0;
      info[code].lines[line]++;
    }
  });
  info.map((info2, i) => {
    info2.char_code = i;
    info2.std = std(info2.lines);
    info2.total = info2.lines.reduce((acc, val) => acc + val, 0);
    info2.preferred = !!options.preferred[i];
    info2.score = options.score(info2, options);
  });
  const result = info.reduce(
    (acc, info2) => acc.score > info2.score ? acc : info2,
    {}
  );
  return String.fromCharCode(result.char_code);
};
var std = function(array) {
  const n = array.length;
  if (n === 0) return 0;
  const mean = array.reduce((a, b) => a + b) / n;
  return Math.sqrt(
    array.map((x) => Math.pow(x - mean, 2)).reduce((a, b) => a + b) / n
  );
};

// node_modules/csv-parse/lib/api/index.js
var isRecordEmpty = function(record) {
  return record.every(
    (field) => field == null || field.toString && field.toString().trim() === ""
  );
};
var cr = 13;
var nl = 10;
var boms = {
  // Note, the following are equals:
  // Buffer.from("\ufeff")
  // Buffer.from([239, 187, 191])
  // Buffer.from('EFBBBF', 'hex')
  utf8: Buffer.from([239, 187, 191]),
  // Note, the following are equals:
  // Buffer.from "\ufeff", 'utf16le
  // Buffer.from([255, 254])
  utf16le: Buffer.from([255, 254])
};
var transform = function(original_options = {}) {
  const info = {
    bytes: 0,
    bytes_records: 0,
    comment_lines: 0,
    empty_lines: 0,
    invalid_field_length: 0,
    lines: 1,
    records: 0
  };
  const options = normalize_options(original_options);
  return {
    info,
    original_options,
    options,
    state: init_state(options),
    __needMoreData: function(i, bufLen, end) {
      if (end) return false;
      const { encoding, escape, quote } = this.options;
      const { quoting, needMoreDataSize, recordDelimiterMaxLength } = this.state;
      const numOfCharLeft = bufLen - i - 1;
      const requiredLength = Math.max(
        needMoreDataSize,
        // Skip if the remaining buffer smaller than record delimiter
        // If "record_delimiter" is yet to be discovered:
        // 1. It is equals to `[]` and "recordDelimiterMaxLength" equals `0`
        // 2. We set the length to windows line ending in the current encoding
        // Note, that encoding is known from user or bom discovery at that point
        // recordDelimiterMaxLength,
        recordDelimiterMaxLength === 0 ? Buffer.from("\r\n", encoding).length : recordDelimiterMaxLength,
        // Skip if remaining buffer can be an escaped quote
        quoting ? (escape === null ? 0 : escape.length) + quote.length : 0,
        // Skip if remaining buffer can be record delimiter following the closing quote
        quoting ? quote.length + recordDelimiterMaxLength : 0
      );
      return numOfCharLeft < requiredLength;
    },
    // Central parser implementation
    parse: function(nextBuf, end, push, close) {
      const {
        bom,
        comment_no_infix,
        delimiter_auto,
        encoding,
        from_line,
        ltrim,
        max_record_size,
        raw,
        relax_quotes,
        rtrim,
        skip_empty_lines,
        to,
        to_line
      } = this.options;
      let { comment, escape, quote, record_delimiter } = this.options;
      const {
        bomSkipped,
        delimiterDiscovered,
        delimiterBufPrevious,
        rawBuffer,
        escapeIsQuote
      } = this.state;
      if (!delimiterDiscovered && delimiter_auto) {
        let delimiterBuf;
        if (delimiterBufPrevious === void 0) {
          delimiterBuf = nextBuf;
        } else if (delimiterBufPrevious !== void 0 && nextBuf === void 0) {
          delimiterBuf = delimiterBufPrevious;
        } else {
          delimiterBuf = Buffer.concat([delimiterBufPrevious, nextBuf]);
        }
        nextBuf = void 0;
        if (end || delimiterBuf.length > delimiter_auto.size) {
          this.options.delimiter = [
            Buffer.from(
              delimiter_discover(delimiterBuf, this.options.delimiter_auto)
            )
          ];
          this.state.previousBuf = delimiterBuf;
          this.state.delimiterBufPrevious = void 0;
          this.state.delimiterDiscovered = true;
        } else {
          this.state.delimiterBufPrevious = delimiterBuf;
          return;
        }
      }
      const { previousBuf } = this.state;
      let buf;
      if (previousBuf === void 0) {
        if (nextBuf === void 0) {
          close();
          return;
        } else {
          buf = nextBuf;
        }
      } else if (previousBuf !== void 0 && nextBuf === void 0) {
        buf = previousBuf;
      } else {
        buf = Buffer.concat([previousBuf, nextBuf]);
      }
      if (bomSkipped === false) {
        if (bom === false) {
          this.state.bomSkipped = true;
        } else if (buf.length < 3) {
          if (end === false) {
            this.state.previousBuf = buf;
            return;
          }
        } else {
          for (const encoding2 in boms) {
            if (boms[encoding2].compare(buf, 0, boms[encoding2].length) === 0) {
              const bomLength = boms[encoding2].length;
              this.state.bufBytesStart += bomLength;
              buf = buf.slice(bomLength);
              const options2 = normalize_options({
                ...this.original_options,
                encoding: encoding2
              });
              for (const key in options2) {
                this.options[key] = options2[key];
              }
              ({ comment, escape, quote } = this.options);
              break;
            }
          }
          this.state.bomSkipped = true;
        }
      }
      const bufLen = buf.length;
      let pos;
      for (pos = 0; pos < bufLen; pos++) {
        if (this.__needMoreData(pos, bufLen, end)) {
          break;
        }
        if (this.state.wasRowDelimiter === true) {
          this.info.lines++;
          this.state.wasRowDelimiter = false;
        }
        if (to_line !== -1 && this.info.lines > to_line) {
          this.state.stop = true;
          close();
          return;
        }
        if (this.state.quoting === false && record_delimiter.length === 0) {
          const record_delimiterCount = this.__autoDiscoverRecordDelimiter(
            buf,
            pos
          );
          if (record_delimiterCount) {
            record_delimiter = this.options.record_delimiter;
          }
        }
        const chr = buf[pos];
        if (raw === true) {
          rawBuffer.append(chr);
        }
        if ((chr === cr || chr === nl) && this.state.wasRowDelimiter === false) {
          this.state.wasRowDelimiter = true;
        }
        if (this.state.escaping === true) {
          this.state.escaping = false;
        } else {
          if (escape !== null && this.state.quoting === true && this.__isEscape(buf, pos, chr) && pos + escape.length < bufLen) {
            if (escapeIsQuote) {
              if (this.__isQuote(buf, pos + escape.length)) {
                this.state.escaping = true;
                pos += escape.length - 1;
                continue;
              }
            } else {
              this.state.escaping = true;
              pos += escape.length - 1;
              continue;
            }
          }
          if (this.state.commenting === false && this.__isQuote(buf, pos)) {
            if (this.state.quoting === true) {
              const nextChr = buf[pos + quote.length];
              const isNextChrTrimable = rtrim && this.__isCharTrimable(buf, pos + quote.length);
              const isNextChrComment = comment !== null && this.__compareBytes(comment, buf, pos + quote.length, nextChr);
              const isNextChrDelimiter = this.__isDelimiter(
                buf,
                pos + quote.length,
                nextChr
              );
              const isNextChrRecordDelimiter = record_delimiter.length === 0 ? this.__autoDiscoverRecordDelimiter(buf, pos + quote.length) : this.__isRecordDelimiter(nextChr, buf, pos + quote.length);
              if (escape !== null && this.__isEscape(buf, pos, chr) && this.__isQuote(buf, pos + escape.length)) {
                pos += escape.length - 1;
              } else if (!nextChr || isNextChrDelimiter || isNextChrRecordDelimiter || isNextChrComment || isNextChrTrimable) {
                this.state.quoting = false;
                this.state.wasQuoting = true;
                pos += quote.length - 1;
                continue;
              } else if (relax_quotes === false) {
                const err = this.__error(
                  new CsvError(
                    "CSV_INVALID_CLOSING_QUOTE",
                    [
                      "Invalid Closing Quote:",
                      `got "${String.fromCharCode(nextChr)}"`,
                      `at line ${this.info.lines}`,
                      "instead of delimiter, record delimiter, trimable character",
                      "(if activated) or comment"
                    ],
                    this.options,
                    this.__infoField()
                  )
                );
                if (err !== void 0) return err;
              } else {
                this.state.quoting = false;
                this.state.wasQuoting = true;
                this.state.field.prepend(quote);
                pos += quote.length - 1;
              }
            } else {
              if (this.state.field.length !== 0) {
                if (relax_quotes === false) {
                  const info2 = this.__infoField();
                  const bom2 = Object.keys(boms).map(
                    (b) => boms[b].equals(this.state.field.toString()) ? b : false
                  ).filter(Boolean)[0];
                  const err = this.__error(
                    new CsvError(
                      "INVALID_OPENING_QUOTE",
                      [
                        "Invalid Opening Quote:",
                        `a quote is found on field ${JSON.stringify(info2.column)} at line ${info2.lines}, value is ${JSON.stringify(this.state.field.toString(encoding))}`,
                        bom2 ? `(${bom2} bom)` : void 0
                      ],
                      this.options,
                      info2,
                      {
                        field: this.state.field
                      }
                    )
                  );
                  if (err !== void 0) return err;
                }
              } else {
                this.state.quoting = true;
                pos += quote.length - 1;
                continue;
              }
            }
          }
          if (this.state.quoting === false) {
            const recordDelimiterLength = this.__isRecordDelimiter(
              chr,
              buf,
              pos
            );
            if (recordDelimiterLength !== 0) {
              const skipCommentLine = this.state.commenting && this.state.wasQuoting === false && this.state.record.length === 0 && this.state.field.length === 0;
              if (skipCommentLine) {
                this.info.comment_lines++;
              } else {
                if (this.state.enabled === false && this.info.lines + (this.state.wasRowDelimiter === true ? 1 : 0) >= from_line) {
                  this.state.enabled = true;
                  this.__resetField();
                  this.__resetRecord();
                  pos += recordDelimiterLength - 1;
                  continue;
                }
                if (skip_empty_lines === true && this.state.wasQuoting === false && this.state.record.length === 0 && this.state.field.length === 0) {
                  this.info.empty_lines++;
                  pos += recordDelimiterLength - 1;
                  continue;
                }
                this.info.bytes = this.state.bufBytesStart + pos;
                const errField = this.__onField();
                if (errField !== void 0) return errField;
                this.info.bytes = this.state.bufBytesStart + pos + recordDelimiterLength;
                const errRecord = this.__onRecord(push);
                if (errRecord !== void 0) return errRecord;
                if (to !== -1 && this.info.records >= to) {
                  this.state.stop = true;
                  close();
                  return;
                }
              }
              this.state.commenting = false;
              pos += recordDelimiterLength - 1;
              continue;
            }
            if (this.state.commenting) {
              continue;
            }
            if (comment !== null && (comment_no_infix === false || this.state.record.length === 0 && this.state.field.length === 0)) {
              const commentCount = this.__compareBytes(comment, buf, pos, chr);
              if (commentCount !== 0) {
                this.state.commenting = true;
                continue;
              }
            }
            const delimiterLength = this.__isDelimiter(buf, pos, chr);
            if (delimiterLength !== 0) {
              this.info.bytes = this.state.bufBytesStart + pos;
              const errField = this.__onField();
              if (errField !== void 0) return errField;
              pos += delimiterLength - 1;
              continue;
            }
          }
        }
        if (this.state.commenting === false) {
          if (max_record_size !== 0 && this.state.record_length + this.state.field.length > max_record_size) {
            return this.__error(
              new CsvError(
                "CSV_MAX_RECORD_SIZE",
                [
                  "Max Record Size:",
                  "record exceed the maximum number of tolerated bytes",
                  `of ${max_record_size}`,
                  `at line ${this.info.lines}`
                ],
                this.options,
                this.__infoField()
              )
            );
          }
        }
        const lappend = ltrim === false || this.state.quoting === true || this.state.field.length !== 0 || !this.__isCharTrimable(buf, pos);
        const rappend = rtrim === false || this.state.wasQuoting === false;
        if (lappend === true && rappend === true) {
          this.state.field.append(chr);
        } else if (rtrim === true && !this.__isCharTrimable(buf, pos)) {
          return this.__error(
            new CsvError(
              "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE",
              [
                "Invalid Closing Quote:",
                "found non trimable byte after quote",
                `at line ${this.info.lines}`
              ],
              this.options,
              this.__infoField()
            )
          );
        } else {
          if (lappend === false) {
            pos += this.__isCharTrimable(buf, pos) - 1;
          }
          continue;
        }
      }
      if (end === true) {
        if (this.state.quoting === true) {
          const err = this.__error(
            new CsvError(
              "CSV_QUOTE_NOT_CLOSED",
              [
                "Quote Not Closed:",
                `the parsing is finished with an opening quote at line ${this.info.lines}`
              ],
              this.options,
              this.__infoField()
            )
          );
          if (err !== void 0) return err;
        } else {
          if (this.state.wasQuoting === true || this.state.record.length !== 0 || this.state.field.length !== 0) {
            this.info.bytes = this.state.bufBytesStart + pos;
            const errField = this.__onField();
            if (errField !== void 0) return errField;
            const errRecord = this.__onRecord(push);
            if (errRecord !== void 0) return errRecord;
          } else if (this.state.wasRowDelimiter === true) {
            this.info.empty_lines++;
          } else if (this.state.commenting === true) {
            this.info.comment_lines++;
          }
        }
      } else {
        this.state.bufBytesStart += pos;
        this.state.previousBuf = buf.slice(pos);
      }
      if (this.state.wasRowDelimiter === true) {
        this.info.lines++;
        this.state.wasRowDelimiter = false;
      }
    },
    __onRecord: function(push) {
      const {
        columns,
        group_columns_by_name,
        encoding,
        info: info2,
        from,
        relax_column_count,
        relax_column_count_less,
        relax_column_count_more,
        raw,
        skip_records_with_empty_values
      } = this.options;
      const { enabled, record } = this.state;
      if (enabled === false) {
        return this.__resetRecord();
      }
      const recordLength = record.length;
      if (columns === true) {
        if (skip_records_with_empty_values === true && isRecordEmpty(record)) {
          this.__resetRecord();
          return;
        }
        return this.__firstLineToColumns(record);
      }
      if (columns === false && this.info.records === 0) {
        this.state.expectedRecordLength = recordLength;
      }
      if (recordLength !== this.state.expectedRecordLength) {
        const err = columns === false ? new CsvError(
          "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH",
          [
            "Invalid Record Length:",
            `expect ${this.state.expectedRecordLength},`,
            `got ${recordLength} on line ${this.info.lines}`
          ],
          this.options,
          this.__infoField(),
          {
            record
          }
        ) : new CsvError(
          "CSV_RECORD_INCONSISTENT_COLUMNS",
          [
            "Invalid Record Length:",
            `columns length is ${columns.length},`,
            // rename columns
            `got ${recordLength} on line ${this.info.lines}`
          ],
          this.options,
          this.__infoField(),
          {
            record
          }
        );
        if (relax_column_count === true || relax_column_count_less === true && recordLength < this.state.expectedRecordLength || relax_column_count_more === true && recordLength > this.state.expectedRecordLength) {
          this.info.invalid_field_length++;
          this.state.error = err;
        } else {
          const finalErr = this.__error(err);
          if (finalErr) return finalErr;
        }
      }
      if (skip_records_with_empty_values === true && isRecordEmpty(record)) {
        this.__resetRecord();
        return;
      }
      if (this.state.recordHasError === true) {
        this.__resetRecord();
        this.state.recordHasError = false;
        return;
      }
      this.info.records++;
      if (from === 1 || this.info.records >= from) {
        const { objname } = this.options;
        if (columns !== false) {
          const obj = {};
          for (let i = 0, l = record.length; i < l; i++) {
            if (columns[i] === void 0 || columns[i].disabled) continue;
            if (group_columns_by_name === true && Object.hasOwn(obj, columns[i].name)) {
              if (Array.isArray(obj[columns[i].name])) {
                obj[columns[i].name] = obj[columns[i].name].concat(record[i]);
              } else {
                obj[columns[i].name] = [obj[columns[i].name], record[i]];
              }
            } else {
              Object.defineProperty(obj, columns[i].name, {
                value: record[i],
                enumerable: true,
                writable: true,
                configurable: true
              });
            }
          }
          if (raw === true || info2 === true) {
            const extRecord = Object.assign(
              { record: obj },
              raw === true ? { raw: this.state.rawBuffer.toString(encoding) } : {},
              info2 === true ? { info: this.__infoRecord() } : {}
            );
            const err = this.__push(
              objname === void 0 ? extRecord : [obj[objname], extRecord],
              push
            );
            if (err) {
              return err;
            }
          } else {
            const err = this.__push(
              objname === void 0 ? obj : [obj[objname], obj],
              push
            );
            if (err) {
              return err;
            }
          }
        } else {
          if (raw === true || info2 === true) {
            const extRecord = Object.assign(
              { record },
              raw === true ? { raw: this.state.rawBuffer.toString(encoding) } : {},
              info2 === true ? { info: this.__infoRecord() } : {}
            );
            const err = this.__push(
              objname === void 0 ? extRecord : [record[objname], extRecord],
              push
            );
            if (err) {
              return err;
            }
          } else {
            const err = this.__push(
              objname === void 0 ? record : [record[objname], record],
              push
            );
            if (err) {
              return err;
            }
          }
        }
      }
      this.__resetRecord();
    },
    __firstLineToColumns: function(record) {
      const { firstLineToHeaders } = this.state;
      try {
        const headers = firstLineToHeaders === void 0 ? record : firstLineToHeaders.call(null, record);
        if (!Array.isArray(headers)) {
          return this.__error(
            new CsvError(
              "CSV_INVALID_COLUMN_MAPPING",
              [
                "Invalid Column Mapping:",
                "expect an array from column function,",
                `got ${JSON.stringify(headers)}`
              ],
              this.options,
              this.__infoField(),
              {
                headers
              }
            )
          );
        }
        const normalizedHeaders = normalize_columns_array(headers);
        this.state.expectedRecordLength = normalizedHeaders.length;
        this.options.columns = normalizedHeaders;
        this.__resetRecord();
        return;
      } catch (err) {
        return err;
      }
    },
    __resetRecord: function() {
      if (this.options.raw === true) {
        this.state.rawBuffer.reset();
      }
      this.state.error = void 0;
      this.state.record = [];
      this.state.record_length = 0;
    },
    __onField: function() {
      const { cast, encoding, rtrim, max_record_size } = this.options;
      const { enabled, wasQuoting } = this.state;
      if (enabled === false) {
        return this.__resetField();
      }
      let field = this.state.field.toString(encoding);
      if (rtrim === true && wasQuoting === false) {
        field = field.trimRight();
      }
      if (cast === true) {
        const [err, f] = this.__cast(field);
        if (err !== void 0) return err;
        field = f;
      }
      this.state.record.push(field);
      if (max_record_size !== 0 && typeof field === "string") {
        this.state.record_length += field.length;
      }
      this.__resetField();
    },
    __resetField: function() {
      this.state.field.reset();
      this.state.wasQuoting = false;
    },
    __push: function(record, push) {
      const { on_record } = this.options;
      if (on_record !== void 0) {
        const info2 = this.__infoRecord();
        try {
          record = on_record.call(null, record, info2);
        } catch (err) {
          return err;
        }
        if (record === void 0 || record === null) {
          return;
        }
      }
      this.info.bytes_records += this.info.bytes;
      push(record);
    },
    // Return a tuple with the error and the casted value
    __cast: function(field) {
      const { columns, relax_column_count } = this.options;
      const isColumns = Array.isArray(columns);
      if (isColumns === true && relax_column_count && this.options.columns.length <= this.state.record.length) {
        return [void 0, void 0];
      }
      if (this.state.castField !== null) {
        try {
          const info2 = this.__infoField();
          return [void 0, this.state.castField.call(null, field, info2)];
        } catch (err) {
          return [err];
        }
      }
      if (this.__isFloat(field)) {
        return [void 0, parseFloat(field)];
      } else if (this.options.cast_date !== false) {
        const info2 = this.__infoField();
        return [void 0, this.options.cast_date.call(null, field, info2)];
      }
      return [void 0, field];
    },
    __compareBytes: function(sourceBuf, targetBuf, targetPos, firstByte) {
      if (sourceBuf[0] !== firstByte) return 0;
      const sourceLength = sourceBuf.length;
      for (let i = 1; i < sourceLength; i++) {
        if (sourceBuf[i] !== targetBuf[targetPos + i]) return 0;
      }
      return sourceLength;
    },
    // Helper to test if a character is trimable
    __isCharTrimable: function(buf, pos) {
      const { timchars, timcharFirstBytes } = this.state;
      const first = buf[pos];
      if (first === void 0 || timcharFirstBytes[first] === 0) return 0;
      loop1: for (let i = 0; i < timchars.length; i++) {
        const timchar = timchars[i];
        for (let j = 0; j < timchar.length; j++) {
          if (timchar[j] !== buf[pos + j]) continue loop1;
        }
        return timchar.length;
      }
      return 0;
    },
    __isDelimiter: function(buf, pos, chr) {
      const { delimiter, ignore_last_delimiters } = this.options;
      if (ignore_last_delimiters === true && this.state.record.length === this.options.columns.length - 1) {
        return 0;
      } else if (ignore_last_delimiters !== false && typeof ignore_last_delimiters === "number" && this.state.record.length === ignore_last_delimiters - 1) {
        return 0;
      }
      loop1: for (let i = 0; i < delimiter.length; i++) {
        const del = delimiter[i];
        if (del[0] === chr) {
          for (let j = 1; j < del.length; j++) {
            if (del[j] !== buf[pos + j]) continue loop1;
          }
          return del.length;
        }
      }
      return 0;
    },
    __isEscape: function(buf, pos, chr) {
      const { escape } = this.options;
      if (escape === null) return false;
      const l = escape.length;
      if (escape[0] === chr) {
        for (let i = 0; i < l; i++) {
          if (escape[i] !== buf[pos + i]) {
            return false;
          }
        }
        return true;
      }
      return false;
    },
    __isFloat: function(value) {
      return value - parseFloat(value) + 1 >= 0;
    },
    // Keep it in case we implement the `cast_int` option
    // __isInt(value){
    //   // return Number.isInteger(parseInt(value))
    //   // return !isNaN( parseInt( obj ) );
    //   return /^(\-|\+)?[1-9][0-9]*$/.test(value)
    // }
    __isQuote: function(buf, pos) {
      const { quote } = this.options;
      if (quote === null) return false;
      const l = quote.length;
      for (let i = 0; i < l; i++) {
        if (quote[i] !== buf[pos + i]) {
          return false;
        }
      }
      return true;
    },
    __isRecordDelimiter: function(chr, buf, pos) {
      const { record_delimiter } = this.options;
      const recordDelimiterLength = record_delimiter.length;
      loop1: for (let i = 0; i < recordDelimiterLength; i++) {
        const rd = record_delimiter[i];
        const rdLength = rd.length;
        if (rd[0] !== chr) {
          continue;
        }
        for (let j = 1; j < rdLength; j++) {
          if (rd[j] !== buf[pos + j]) {
            continue loop1;
          }
        }
        return rd.length;
      }
      return 0;
    },
    __autoDiscoverRecordDelimiter: function(buf, pos) {
      const { encoding } = this.options;
      const rds = [
        // Important, the windows line ending must be before mac os 9
        Buffer.from("\r\n", encoding),
        Buffer.from("\n", encoding),
        Buffer.from("\r", encoding)
      ];
      loop: for (let i = 0; i < rds.length; i++) {
        const l = rds[i].length;
        for (let j = 0; j < l; j++) {
          if (rds[i][j] !== buf[pos + j]) {
            continue loop;
          }
        }
        this.options.record_delimiter.push(rds[i]);
        this.state.recordDelimiterMaxLength = rds[i].length;
        return rds[i].length;
      }
      return 0;
    },
    __error: function(msg) {
      const { encoding, raw, skip_records_with_error } = this.options;
      const err = typeof msg === "string" ? new Error(msg) : msg;
      if (skip_records_with_error) {
        this.state.recordHasError = true;
        if (this.options.on_skip !== void 0) {
          try {
            this.options.on_skip(
              err,
              raw ? this.state.rawBuffer.toString(encoding) : void 0
            );
          } catch (err2) {
            return err2;
          }
        }
        return void 0;
      } else {
        return err;
      }
    },
    __infoDataSet: function() {
      return {
        ...this.info,
        columns: this.options.columns
      };
    },
    __infoRecord: function() {
      const { columns, raw, encoding } = this.options;
      return {
        ...this.__infoDataSet(),
        bytes_records: this.info.bytes,
        error: this.state.error,
        header: columns === true,
        index: this.state.record.length,
        raw: raw ? this.state.rawBuffer.toString(encoding) : void 0
      };
    },
    __infoField: function() {
      const { columns } = this.options;
      const isColumns = Array.isArray(columns);
      const bytes_records = this.info.bytes_records;
      return {
        ...this.__infoRecord(),
        bytes_records,
        column: isColumns === true ? columns.length > this.state.record.length ? columns[this.state.record.length].name : null : this.state.record.length,
        quoting: this.state.wasQuoting
      };
    }
  };
};

// node_modules/csv-parse/lib/sync.js
var parse = function(data, opts = {}) {
  if (typeof data === "string") {
    data = Buffer.from(data);
  }
  const records = opts && opts.objname ? /* @__PURE__ */ Object.create(null) : [];
  const parser = transform(opts);
  const push = (record) => {
    if (parser.options.objname === void 0) records.push(record);
    else {
      records[record[0]] = record[1];
    }
  };
  const close = () => {
  };
  const error = parser.parse(data, true, push, close);
  if (error !== void 0) throw error;
  return records;
};

// packages/builder/src/options/specs.ts
var import_node_net2 = require("node:net");
var OptionError = class extends BuildError {
  name = "OptionError";
  constructor(message, data = {}) {
    super("E_OPTION", message, { data });
  }
};
function parseCsvPairs(value, flag) {
  let fields;
  try {
    fields = parse(value, { relax_quotes: true, trim: false })[0] ?? [];
  } catch (e) {
    throw new OptionError(`${flag}: cannot parse "${value}" as comma-separated key=value pairs: ${e.message}`, { value });
  }
  return fields.map((f) => {
    const eq = f.indexOf("=");
    return eq < 0 ? [f.trim().toLowerCase(), ""] : [f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1)];
  });
}
function parseBool(v, flag, key) {
  if (v === "" || /^(1|t|true|yes)$/i.test(v)) return true;
  if (/^(0|f|false|no)$/i.test(v)) return false;
  throw new OptionError(`${flag}: ${key}=${v} is not a boolean (true or false)`, { key, value: v });
}
function parseOutputSpec(value) {
  if (!value.includes("=")) {
    return value === "-" ? { type: "tar", dest: "-", attrs: {} } : { type: "local", dest: value, attrs: {} };
  }
  const attrs = {};
  for (const [k, v] of parseCsvPairs(value, "--output")) attrs[k] = v;
  const type = attrs.type;
  const names = (attrs.name ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  switch (type) {
    case "oci":
    case "docker": {
      const tar3 = attrs.tar === void 0 ? true : parseBool(attrs.tar, "--output", "tar");
      if (!tar3 && !attrs.dest) throw new OptionError(`--output type=${type},tar=false needs dest=DIR`);
      if (!tar3 && type === "docker") throw new OptionError("--output type=docker,tar=false is not supported: use type=oci,dest=DIR,tar=false for a layout directory");
      return { type, ...attrs.dest !== void 0 ? { dest: attrs.dest } : {}, tar: tar3, names, attrs };
    }
    case "local":
    case "tar":
      if (!attrs.dest) throw new OptionError(`--output type=${type} needs dest=PATH`);
      return { type, dest: attrs.dest, attrs };
    case "image":
    case "registry":
      return {
        type,
        names,
        push: type === "registry" || attrs.push !== void 0 && parseBool(attrs.push, "--output", "push"),
        insecure: attrs["registry.insecure"] !== void 0 && parseBool(attrs["registry.insecure"], "--output", "registry.insecure"),
        attrs
      };
    case void 0:
      throw new OptionError(`--output ${value}: missing type= (oci, docker, local, tar, image or registry)`);
    default:
      throw new OptionError(`--output type=${type} is not supported (use oci, docker, local, tar, image or registry)`, { type });
  }
}
function parseBuildContextSpec(value) {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new OptionError(`--build-context ${value}: expected NAME=VALUE (docker-image://REF, oci-layout://DIR[:TAG|@DIGEST] or a directory)`);
  const name = value.slice(0, eq);
  const src = value.slice(eq + 1);
  if (src.startsWith("docker-image://")) return { name, kind: "image", ref: src.slice("docker-image://".length) };
  if (src.startsWith("oci-layout://")) {
    let rest = src.slice("oci-layout://".length);
    let digest;
    let tag;
    const at = rest.lastIndexOf("@");
    if (at > 0) {
      digest = rest.slice(at + 1);
      rest = rest.slice(0, at);
    }
    const colon = rest.lastIndexOf(":");
    if (colon > 0 && !rest.slice(colon + 1).includes("/")) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    return { name, kind: "oci-layout", dir: rest, ...tag ? { tag } : {}, ...digest ? { digest } : {} };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) {
    throw new OptionError(`--build-context ${name}=${src}: this source kind is not supported yet (docker-image://, oci-layout:// and directories are)`);
  }
  return { name, kind: "local", dir: src };
}
function parseSshSpec(value) {
  const eq = value.indexOf("=");
  if (eq < 0) return { id: value, paths: [] };
  return { id: value.slice(0, eq), paths: value.slice(eq + 1).split(",").filter(Boolean) };
}
var HOST_GATEWAY_IP = "127.0.0.1";
function parseAddHostSpec(value) {
  let sep = value.indexOf("=");
  if (sep < 0) sep = value.indexOf(":");
  const host = sep < 0 ? "" : value.slice(0, sep);
  let ip = sep < 0 ? "" : value.slice(sep + 1);
  if (!host || !ip) throw new OptionError(`--add-host ${value}: expected HOST:IP or HOST=IP`, { value });
  if (ip === "host-gateway") return { host, ip: HOST_GATEWAY_IP };
  if (ip.length > 2 && ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const family = (0, import_node_net2.isIP)(ip);
  if (family === 0) throw new OptionError(`--add-host ${value}: "${ip}" is not an IP address`, { value });
  if (family === 4) return { host, ip };
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return { host, ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
  }
  return { host, ip: canonical };
}
var ULIMIT_NAMES = Object.freeze(["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]);
function parseUlimitSpec(value) {
  const m = /^([a-z]+)=(\d+)(?::(\d+))?$/.exec(value.trim());
  if (!m) throw new OptionError(`--ulimit ${value}: expected NAME=SOFT[:HARD] with whole numbers (e.g. nofile=1024:2048)`, { value });
  const name = m[1];
  if (!ULIMIT_NAMES.includes(name)) throw new OptionError(`--ulimit ${value}: unknown limit "${name}" (one of ${ULIMIT_NAMES.join(", ")})`, { value });
  const soft = Number(m[2]);
  const hard = m[3] === void 0 ? soft : Number(m[3]);
  if (!Number.isSafeInteger(soft) || !Number.isSafeInteger(hard)) throw new OptionError(`--ulimit ${value}: the limit is too large`, { value });
  if (soft > hard) throw new OptionError(`--ulimit ${value}: the soft limit ${soft} is above the hard limit ${hard}`, { value });
  return { name, soft, hard };
}
function parseByteSize(value, flag) {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(?:i?b)?|b)?$/i.exec(value.trim());
  if (!m) throw new OptionError(`${flag} ${value}: expected a size such as 64m or 1g`, { value });
  const power = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0;
  const bytes = Math.floor(Number(m[1]) * 1024 ** power);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new OptionError(`${flag} ${value}: the size must be above zero`, { value });
  return bytes;
}

// packages/builder/src/remote-cache/spec.ts
var FLAG_TO = "--cache-to";
var FLAG_FROM = "--cache-from";
function parseBool2(v, flag, key) {
  if (v === "" || /^(1|t|true|yes)$/i.test(v)) return true;
  if (/^(0|f|false|no)$/i.test(v)) return false;
  throw new OptionError(`${flag}: ${key}=${v} is not a boolean (true or false)`, { key, value: v });
}
function parseDuration(value, flag) {
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1e3);
  const units = { ns: 1e-6, us: 1e-3, \u00B5s: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 36e5 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m;
  while (m = re.exec(value)) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== value.length || value === "") throw new OptionError(`${flag}: timeout=${value} is not a duration (like 30s, 5m or 1h)`, { value });
  return Math.round(total);
}
function attrsOf(value, flag) {
  if (!value.includes("=")) return { type: "registry", ref: value.trim() };
  const attrs = {};
  for (const [k, v] of parseCsvPairs(value, flag)) attrs[k] = v;
  return attrs;
}
function parseMode(attrs, flag) {
  const mode = attrs.mode ?? "min";
  if (mode !== "min" && mode !== "max") throw new OptionError(`${flag}: mode=${mode} is not valid (use min or max)`, { mode });
  return mode;
}
function unsupported2(type, flag, value) {
  if (type === void 0) throw new OptionError(`${flag} ${value}: missing type= (registry, local or gha)`);
  const hint = type === "inline" ? " (inline cache needs an image exporter; use type=registry with a separate ref instead)" : "";
  throw new OptionError(`${flag} type=${type} is not supported${hint}; use registry, local or gha`, { type });
}
function checkScope(scope, flag) {
  if (scope === "" || /[\s,#]/.test(scope) || scope.length > 256) {
    throw new OptionError(`${flag}: scope=${JSON.stringify(scope)} is not valid: use 1-256 characters without spaces, commas or # (e.g. the branch name with / kept)`, { scope });
  }
  return scope;
}
function ghaEndpoint(attrs, env, flag) {
  const scope = checkScope(attrs.scope ?? "buildkit", flag);
  const token = attrs.token ?? env.ACTIONS_RUNTIME_TOKEN ?? "";
  const v1 = attrs.url ?? env.ACTIONS_CACHE_URL ?? "";
  const v2 = attrs.url_v2 ?? env.ACTIONS_RESULTS_URL ?? "";
  if (attrs.version !== void 0 && attrs.version !== "1" && attrs.version !== "2") {
    throw new OptionError(`${flag}: version=${attrs.version} is not valid (use 1 or 2)`);
  }
  let version = attrs.version === "1" ? 1 : void 0;
  let url = "";
  if (version !== 1 && v2) {
    url = v2;
    version = 2;
  }
  if (!url) url = v1;
  version ??= attrs.version === "2" || url.includes("results-receiver.actions.githubusercontent.com") ? 2 : 1;
  if (!url) {
    throw new OptionError(
      `${flag} type=gha: no cache service URL: set url_v2= (or url= for the legacy service), or run inside a GitHub Actions JavaScript action or after crazy-max/ghaction-github-runtime so ACTIONS_RESULTS_URL is set`
    );
  }
  if (!token) {
    throw new OptionError(`${flag} type=gha: no token: set token= or ACTIONS_RUNTIME_TOKEN (exposed to JavaScript actions, or by crazy-max/ghaction-github-runtime)`);
  }
  return { version, url, token, scope };
}
function parseCacheExportSpec(value, env = process.env) {
  const attrs = attrsOf(value, FLAG_TO);
  const mode = parseMode(attrs, FLAG_TO);
  const ignoreError = attrs["ignore-error"] !== void 0 && parseBool2(attrs["ignore-error"], FLAG_TO, "ignore-error");
  const common = { mode, ignoreError, attrs, ...attrs.timeout !== void 0 ? { timeoutMs: parseDuration(attrs.timeout, FLAG_TO) } : {} };
  switch (attrs.type) {
    case "registry": {
      if (!attrs.ref) throw new OptionError(`${FLAG_TO} type=registry needs ref=REGISTRY/REPOSITORY:TAG`);
      const ociMediaTypes = attrs["oci-mediatypes"] === void 0 ? true : parseBool2(attrs["oci-mediatypes"], FLAG_TO, "oci-mediatypes");
      return { type: "registry", ref: attrs.ref, ociMediaTypes, ...common };
    }
    case "local":
      if (!attrs.dest) throw new OptionError(`${FLAG_TO} type=local needs dest=DIR`);
      return { type: "local", dest: attrs.dest, tag: attrs.tag || "latest", ...common };
    case "gha":
      return { type: "gha", ...ghaEndpoint(attrs, env, FLAG_TO), ...common };
    default:
      return unsupported2(attrs.type, FLAG_TO, value);
  }
}
function parseCacheImportSpec(value, env = process.env) {
  const attrs = attrsOf(value, FLAG_FROM);
  const common = { attrs, ...attrs.timeout !== void 0 ? { timeoutMs: parseDuration(attrs.timeout, FLAG_FROM) } : {} };
  switch (attrs.type) {
    case "registry":
      if (!attrs.ref) throw new OptionError(`${FLAG_FROM} type=registry needs ref=REGISTRY/REPOSITORY:TAG`);
      return { type: "registry", ref: attrs.ref, ...common };
    case "local":
      if (!attrs.src) throw new OptionError(`${FLAG_FROM} type=local needs src=DIR`);
      return {
        type: "local",
        src: attrs.src,
        ...attrs.tag ? { tag: attrs.tag } : {},
        ...attrs.digest ? { digest: attrs.digest } : {},
        ...common
      };
    case "gha":
      return { type: "gha", ...ghaEndpoint(attrs, env, FLAG_FROM), ...common };
    default:
      return unsupported2(attrs.type, FLAG_FROM, value);
  }
}

// packages/builder/src/remote-cache/deadline.ts
function deadline(ms, ...also) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`time budget of ${ms} ms used up`, "TimeoutError")), ms);
  const others = also.filter((s) => s !== void 0);
  return {
    signal: others.length ? AbortSignal.any([controller.signal, ...others]) : controller.signal,
    dispose: () => clearTimeout(timer)
  };
}

// node_modules/yocto-queue/index.js
var Node = class {
  value;
  next;
  constructor(value) {
    this.value = value;
  }
};
var Queue = class {
  #head;
  #tail;
  #size;
  constructor() {
    this.clear();
  }
  enqueue(value) {
    const node = new Node(value);
    if (this.#head) {
      this.#tail.next = node;
      this.#tail = node;
    } else {
      this.#head = node;
      this.#tail = node;
    }
    this.#size++;
  }
  dequeue() {
    const current = this.#head;
    if (!current) {
      return;
    }
    this.#head = this.#head.next;
    this.#size--;
    if (!this.#head) {
      this.#tail = void 0;
    }
    return current.value;
  }
  peek() {
    if (!this.#head) {
      return;
    }
    return this.#head.value;
  }
  clear() {
    this.#head = void 0;
    this.#tail = void 0;
    this.#size = 0;
  }
  get size() {
    return this.#size;
  }
  *[Symbol.iterator]() {
    let current = this.#head;
    while (current) {
      yield current.value;
      current = current.next;
    }
  }
  *drain() {
    while (this.#head) {
      yield this.dequeue();
    }
  }
};

// node_modules/p-limit/index.js
function pLimit(concurrency) {
  let rejectOnClear = false;
  if (typeof concurrency === "object") {
    ({ concurrency, rejectOnClear = false } = concurrency);
  }
  validateConcurrency(concurrency);
  if (typeof rejectOnClear !== "boolean") {
    throw new TypeError("Expected `rejectOnClear` to be a boolean");
  }
  const queue = new Queue();
  let activeCount = 0;
  const resumeNext = () => {
    if (activeCount < concurrency && queue.size > 0) {
      activeCount++;
      queue.dequeue().run();
    }
  };
  const next = () => {
    activeCount--;
    resumeNext();
  };
  const run5 = async (function_, resolve5, arguments_) => {
    const result = (async () => function_(...arguments_))();
    resolve5(result);
    try {
      await result;
    } catch {
    }
    next();
  };
  const enqueue = (function_, resolve5, reject, arguments_) => {
    const queueItem = { reject };
    new Promise((internalResolve) => {
      queueItem.run = internalResolve;
      queue.enqueue(queueItem);
    }).then(run5.bind(void 0, function_, resolve5, arguments_));
    if (activeCount < concurrency) {
      resumeNext();
    }
  };
  const generator = (function_, ...arguments_) => new Promise((resolve5, reject) => {
    enqueue(function_, resolve5, reject, arguments_);
  });
  Object.defineProperties(generator, {
    activeCount: {
      get: () => activeCount
    },
    pendingCount: {
      get: () => queue.size
    },
    clearQueue: {
      value() {
        if (!rejectOnClear) {
          queue.clear();
          return;
        }
        const abortError = AbortSignal.abort().reason;
        while (queue.size > 0) {
          queue.dequeue().reject(abortError);
        }
      }
    },
    concurrency: {
      get: () => concurrency,
      set(newConcurrency) {
        validateConcurrency(newConcurrency);
        concurrency = newConcurrency;
        queueMicrotask(() => {
          while (activeCount < concurrency && queue.size > 0) {
            resumeNext();
          }
        });
      }
    },
    map: {
      async value(iterable, function_) {
        const promises = [];
        try {
          Array.from(iterable, (value, index) => {
            const promise = generator(function_, value, index);
            promises.push(promise);
            return promise;
          });
        } catch (error) {
          for (const promise of promises) {
            promise.catch(() => {
            });
          }
          throw error;
        }
        return Promise.all(promises);
      }
    }
  });
  return generator;
}
function validateConcurrency(concurrency) {
  if (!((Number.isInteger(concurrency) || concurrency === Number.POSITIVE_INFINITY) && concurrency > 0)) {
    throw new TypeError("Expected `concurrency` to be a number from 1 and up");
  }
}

// packages/builder/src/remote-cache/errors.ts
var RemoteCacheError = class extends BuildError {
  name = "RemoteCacheError";
  constructor(code, message, data = {}, cause) {
    super(code, message, { data, cause });
  }
};
function errorMessage(e) {
  const parts = [];
  let cur = e;
  for (let i = 0; i < 4 && cur; i++) {
    const m = cur.message;
    if (typeof m === "string" && m && !parts.some((p) => p.includes(m))) parts.push(m);
    cur = cur.cause;
  }
  return parts.length ? parts.join(": ") : String(e);
}

// packages/cache/src/content-store.ts
var import_node_crypto5 = require("node:crypto");
var import_node_fs7 = require("node:fs");
var import_promises13 = require("node:fs/promises");
var import_node_path10 = require("node:path");
var import_node_stream7 = require("node:stream");

// packages/cache/src/atomic-file.ts
var import_node_crypto4 = require("node:crypto");
var import_promises12 = require("node:fs/promises");
var import_node_path8 = require("node:path");

// packages/cache/src/errors.ts
var BlobDigestMismatchError = class extends BuildError {
  constructor(expected, actual, size) {
    super(
      "E_DIGEST_MISMATCH",
      `blob content does not match its expected digest: expected ${expected}, got ${actual} (${size} bytes); the source sent different bytes than announced (re-fetch it, or fix the digest the caller passed)`,
      { data: { expected, actual, size } }
    );
    this.expected = expected;
    this.actual = actual;
  }
  expected;
  actual;
  name = "BlobDigestMismatchError";
};
var BlobSizeMismatchError = class extends BuildError {
  constructor(expectedSize, actualSize, expected) {
    super(
      "E_SIZE_MISMATCH",
      `blob${expected ? ` ${expected}` : ""} has ${actualSize > expectedSize ? "more than" : "only"} ${actualSize} bytes but ${expectedSize} were announced; the source was truncated or the size is wrong`,
      { data: { expectedSize, actualSize, ...expected ? { expected } : {} } }
    );
    this.expectedSize = expectedSize;
    this.actualSize = actualSize;
  }
  expectedSize;
  actualSize;
  name = "BlobSizeMismatchError";
};
var BlobCorruptError = class extends BuildError {
  constructor(digest, path28, actual) {
    super(
      "E_BLOB_CORRUPT",
      `stored blob ${digest} at ${path28} is corrupt (its content hashes to ${actual}); it has been removed from the cache, so the next build fetches or rebuilds it`,
      { data: { digest, path: path28, actual } }
    );
    this.digest = digest;
    this.path = path28;
  }
  digest;
  path;
  name = "BlobCorruptError";
};
var BlobNotFoundError = class extends BuildError {
  constructor(digest, path28) {
    super("E_BLOB_NOT_FOUND", `blob ${digest} is not in the content store (looked at ${path28})`, {
      data: { digest, path: path28 }
    });
    this.digest = digest;
  }
  digest;
  name = "BlobNotFoundError";
};
var InvalidDigestError = class extends BuildError {
  constructor(value) {
    super(
      "E_INVALID_DIGEST",
      `not a valid digest: ${JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}\u2026` : value)}; expected "sha256:" followed by 64 lowercase hex digits (or "sha512:" and 128)`,
      { data: { value } }
    );
    this.value = value;
  }
  value;
  name = "InvalidDigestError";
};
var NoSpaceError = class extends BuildError {
  constructor(path28, cause) {
    super(
      "E_NO_SPACE",
      `no space left on the device holding the build cache (${path28}); free space, prune the cache (build-image prune --max-bytes \u2026), or point BUILD_IMAGE_CACHE_DIR elsewhere`,
      { cause, data: { path: path28 } }
    );
    this.path = path28;
  }
  path;
  name = "NoSpaceError";
};
var InvalidKeyPartError = class extends BuildError {
  name = "InvalidKeyPartError";
  constructor(message, data = {}) {
    super("E_INVALID_KEY_PART", message, { data });
  }
};
function mapFsError(error, path28) {
  const code = error?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return new NoSpaceError(path28, error);
  return error;
}

// packages/cache/src/atomic-file.ts
function tempPath(tmpDir) {
  return (0, import_node_path8.join)(tmpDir, `${process.pid}-${(0, import_node_crypto4.randomBytes)(8).toString("hex")}.tmp`);
}
async function fsyncDir(dir) {
  let fh;
  try {
    fh = await (0, import_promises12.open)(dir, "r");
    await fh.sync();
  } catch {
  } finally {
    await fh?.close().catch(() => {
    });
  }
}
async function writeFileAtomic(tmpDir, dest, data, options = {}) {
  const durable = options.durable ?? true;
  const tmp = tempPath(tmpDir);
  try {
    await (0, import_promises12.mkdir)(tmpDir, { recursive: true });
    const fh = await (0, import_promises12.open)(tmp, "wx", options.mode ?? 420);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.mtimeMs !== void 0) {
      const t = options.mtimeMs / 1e3;
      await (0, import_promises12.utimes)(tmp, t, t);
    }
    await (0, import_promises12.mkdir)((0, import_node_path8.dirname)(dest), { recursive: true });
    await (0, import_promises12.rename)(tmp, dest);
    if (durable) await fsyncDir((0, import_node_path8.dirname)(dest));
  } catch (e) {
    await (0, import_promises12.rm)(tmp, { force: true }).catch(() => {
    });
    throw mapFsError(e, dest);
  }
}
async function linkAtomic(tmpDir, existing, dest, fallbackData) {
  const tmp = tempPath(tmpDir);
  try {
    await (0, import_promises12.mkdir)(tmpDir, { recursive: true });
    try {
      await (0, import_promises12.link)(existing, tmp);
    } catch (e) {
      const code = e.code;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw e;
      await writeFileAtomic(tmpDir, dest, await fallbackData());
      return;
    }
    await (0, import_promises12.mkdir)((0, import_node_path8.dirname)(dest), { recursive: true });
    await (0, import_promises12.rename)(tmp, dest);
  } catch (e) {
    await (0, import_promises12.rm)(tmp, { force: true }).catch(() => {
    });
    throw mapFsError(e, dest);
  }
}

// packages/cache/src/digest.ts
var HEX_LENGTH = { sha256: 64, sha512: 128 };
var DIGEST_RE2 = /^(sha256|sha512):([0-9a-f]+)$/;
function parseDigest2(value) {
  const m = typeof value === "string" ? DIGEST_RE2.exec(value) : null;
  const algorithm = m?.[1];
  const hex2 = m?.[2];
  if (!algorithm || !hex2 || hex2.length !== HEX_LENGTH[algorithm]) throw new InvalidDigestError(String(value));
  return { algorithm, hex: hex2 };
}
function isDigest2(value) {
  if (typeof value !== "string") return false;
  const m = DIGEST_RE2.exec(value);
  return !!m && m[2].length === HEX_LENGTH[m[1]];
}

// packages/cache/src/layout.ts
var import_node_os3 = require("node:os");
var import_node_path9 = require("node:path");
var CACHE_FORMAT_VERSION = 1;
function resolveCacheDir(env = process.env) {
  const explicit = env["BUILD_IMAGE_CACHE_DIR"];
  if (explicit) return (0, import_node_path9.resolve)(explicit);
  const xdg = env["XDG_CACHE_HOME"];
  if (xdg && xdg.startsWith("/")) return (0, import_node_path9.join)(xdg, "build-image");
  const home = env["HOME"] || (0, import_node_os3.homedir)();
  return (0, import_node_path9.join)(home, ".cache", "build-image");
}
var CacheLayout = class {
  constructor(root) {
    this.root = root;
    this.content = (0, import_node_path9.join)(root, `content-v${CACHE_FORMAT_VERSION}`);
    this.index = (0, import_node_path9.join)(root, `index-v${CACHE_FORMAT_VERSION}`);
    this.history = (0, import_node_path9.join)(root, `history-v${CACHE_FORMAT_VERSION}`);
    this.tmp = (0, import_node_path9.join)(root, "tmp");
  }
  root;
  content;
  index;
  history;
  tmp;
  /** Blob path for a digest; validates the digest first so it cannot escape the root. */
  blob(digest) {
    const { algorithm, hex: hex2 } = parseDigest2(digest);
    return (0, import_node_path9.join)(this.content, algorithm, hex2);
  }
  /** Directory holding the index files of a key (`index-v1/<kk>`). */
  entryDir(keyHex2) {
    return (0, import_node_path9.join)(this.index, keyHex2.slice(0, 2));
  }
  entry(keyHex2) {
    return (0, import_node_path9.join)(this.entryDir(keyHex2), `${keyHex2}.json`);
  }
  preimage(keyHex2) {
    return (0, import_node_path9.join)(this.entryDir(keyHex2), `${keyHex2}.preimage.json`);
  }
  historyFile(stepHex2) {
    return (0, import_node_path9.join)(this.history, stepHex2.slice(0, 2), `${stepHex2}.json`);
  }
};

// packages/cache/src/content-store.ts
var ALGORITHMS = ["sha256", "sha512"];
var HEX_RE = /^[0-9a-f]+$/;
var DEFAULT_TEMP_MAX_AGE_MS = 24 * 60 * 60 * 1e3;
var ContentStore = class {
  root;
  layout;
  now;
  constructor(options = {}) {
    this.root = options.root ?? resolveCacheDir();
    this.layout = new CacheLayout(this.root);
    this.now = options.now ?? Date.now;
  }
  /**
   * Streams `source` into the store, hashing while writing and honouring backpressure (each chunk
   * is written before the next is pulled). Resolves once the blob is durable under its digest.
   *
   * @example
   * ```ts
   * const { digest, size } = await store.put(response.body, { expected: desc.digest, size: desc.size })
   * ```
   */
  async put(source, options = {}) {
    const emitter = source;
    if (typeof emitter.on === "function") emitter.on("error", () => {
    });
    try {
      return await this.putFrom(source, options);
    } catch (e) {
      if (typeof emitter.destroy === "function" && !emitter.readableEnded) emitter.destroy();
      throw e;
    }
  }
  async putFrom(source, options) {
    const algorithm = options.expected ? parseDigest2(options.expected).algorithm : "sha256";
    if (options.size !== void 0 && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
      throw new TypeError(`put: size must be a non-negative integer, got ${options.size}`);
    }
    if (options.expected && await this.has(options.expected)) return this.verifyOnly(source, options.expected, options.size);
    const tmp = tempPath(this.layout.tmp);
    const hash = (0, import_node_crypto5.createHash)(algorithm);
    let size = 0;
    let fh;
    try {
      await (0, import_promises13.mkdir)(this.layout.tmp, { recursive: true });
      fh = await (0, import_promises13.open)(tmp, "wx", 292);
      for await (const chunk of source) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        size += buf.byteLength;
        if (options.size !== void 0 && size > options.size) {
          throw new BlobSizeMismatchError(options.size, size, options.expected);
        }
        hash.update(buf);
        await writeAll(fh, buf);
      }
      if (options.size !== void 0 && size !== options.size) {
        throw new BlobSizeMismatchError(options.size, size, options.expected);
      }
      const digest = `${algorithm}:${hash.digest("hex")}`;
      if (options.expected && digest !== options.expected) {
        throw new BlobDigestMismatchError(options.expected, digest, size);
      }
      const dest = this.layout.blob(digest);
      if (await this.hasWithSize(dest, size)) {
        await fh.close();
        fh = void 0;
        await (0, import_promises13.rm)(tmp, { force: true });
        return { digest, size };
      }
      await fh.sync();
      await fh.close();
      fh = void 0;
      await (0, import_promises13.mkdir)((0, import_node_path10.dirname)(dest), { recursive: true });
      await (0, import_promises13.rename)(tmp, dest);
      await fsyncDir((0, import_node_path10.dirname)(dest));
      return { digest, size };
    } catch (e) {
      await fh?.close().catch(() => {
      });
      await (0, import_promises13.rm)(tmp, { force: true }).catch(() => {
      });
      throw mapFsError(e, this.root);
    }
  }
  /** True when a blob file exists at `path` with `size` bytes (a racing or damaged one does not count). */
  async hasWithSize(path28, size) {
    try {
      const st = await (0, import_promises13.stat)(path28);
      return st.isFile() && st.size === size;
    } catch {
      return false;
    }
  }
  /**
   * The blob is already stored: consume the source and check it (the caller relies on put having
   * read and verified it) without writing a second copy to disk.
   */
  async verifyOnly(source, expected, expectedSize) {
    const { algorithm } = parseDigest2(expected);
    const hash = (0, import_node_crypto5.createHash)(algorithm);
    let size = 0;
    for await (const chunk of source) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buf.byteLength;
      if (expectedSize !== void 0 && size > expectedSize) throw new BlobSizeMismatchError(expectedSize, size, expected);
      hash.update(buf);
    }
    if (expectedSize !== void 0 && size !== expectedSize) throw new BlobSizeMismatchError(expectedSize, size, expected);
    const digest = `${algorithm}:${hash.digest("hex")}`;
    if (digest !== expected) throw new BlobDigestMismatchError(expected, digest, size);
    return { digest, size };
  }
  /**
   * Re-hashes every stored blob, removes those that no longer match their digest, and reports
   * them. For `build-image doctor`-style checks; ordinary reads already verify what they read.
   *
   * @example
   * ```ts
   * const { checked, corrupt } = await store.verify()
   * if (corrupt.length) console.warn(`removed ${corrupt.length} corrupt blobs`)
   * ```
   */
  async verify() {
    let checked = 0;
    let bytes = 0;
    const corrupt = [];
    for await (const b of this.list()) {
      try {
        for await (const chunk of this.get(b.digest)) bytes += chunk.byteLength;
        checked++;
      } catch (e) {
        const code = e.code;
        if (code === "E_BLOB_CORRUPT") {
          checked++;
          corrupt.push(b.digest);
        } else if (code !== "E_BLOB_NOT_FOUND") throw e;
      }
    }
    return { checked, bytes, corrupt };
  }
  /**
   * Stores a small in-memory blob (manifest, config) with the same guarantees as {@link put}.
   *
   * @example
   * ```ts
   * const { digest } = await store.putBytes(JSON.stringify(manifest))
   * ```
   */
  async putBytes(data, options = {}) {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    return this.put(
      (async function* () {
        yield buf;
      })(),
      { ...options, size: buf.byteLength }
    );
  }
  /**
   * A stream of the blob that re-hashes while it flows. At EOF a mismatch destroys the stream with
   * `E_BLOB_CORRUPT` and removes the blob; a missing blob errors with `E_BLOB_NOT_FOUND`.
   *
   * @example
   * ```ts
   * await pipeline(store.get(layer.digest), createGunzip(), tar.extract(dir))
   * ```
   */
  get(digest) {
    let path28;
    let algorithm;
    try {
      path28 = this.layout.blob(digest);
      algorithm = parseDigest2(digest).algorithm;
    } catch (e) {
      const r = new import_node_stream7.Readable({ read() {
      } });
      process.nextTick(() => r.destroy(e));
      return r;
    }
    const hash = (0, import_node_crypto5.createHash)(algorithm);
    let ino;
    const file2 = (0, import_node_fs7.createReadStream)(path28, { highWaterMark: 1024 * 1024 });
    const out = new import_node_stream7.Transform({
      transform(chunk, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush: (cb) => {
        const actual = `${algorithm}:${hash.digest("hex")}`;
        if (actual === digest) return cb();
        removeIfSameFile(path28, ino).then(
          () => cb(new BlobCorruptError(digest, path28, actual)),
          () => cb(new BlobCorruptError(digest, path28, actual))
        );
      }
    });
    file2.on("open", (fd) => {
      try {
        ino = (0, import_node_fs7.fstatSync)(fd).ino;
      } catch {
      }
    });
    file2.on("error", (e) => {
      out.destroy(e.code === "ENOENT" ? new BlobNotFoundError(digest, path28) : e);
    });
    out.on("close", () => file2.destroy());
    file2.pipe(out);
    return out;
  }
  /**
   * The whole blob, verified. For small blobs (manifests, configs); stream layers with {@link get}.
   *
   * @example
   * ```ts
   * const manifest = JSON.parse((await store.getBytes(digest)).toString('utf8'))
   * ```
   */
  async getBytes(digest) {
    const path28 = this.layout.blob(digest);
    const { algorithm } = parseDigest2(digest);
    let fh;
    try {
      fh = await (0, import_promises13.open)(path28, "r");
    } catch (e) {
      if (e.code === "ENOENT") throw new BlobNotFoundError(digest, path28);
      throw e;
    }
    let data;
    let ino;
    try {
      ino = (await fh.stat()).ino;
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
    const actual = `${algorithm}:${(0, import_node_crypto5.createHash)(algorithm).update(data).digest("hex")}`;
    if (actual !== digest) {
      await removeIfSameFile(path28, ino).catch(() => {
      });
      throw new BlobCorruptError(digest, path28, actual);
    }
    return data;
  }
  /**
   * True when a blob with this digest is stored (it was verified when it was written).
   *
   * @example
   * ```ts
   * if (!(await store.has(layer.digest))) await pull(layer)
   * ```
   */
  async has(digest) {
    return await this.stat(digest) !== void 0;
  }
  /**
   * The stored size, or undefined when absent.
   *
   * @example
   * ```ts
   * const size = (await store.stat(digest))?.size ?? 0
   * ```
   */
  async stat(digest) {
    try {
      const st = await (0, import_promises13.stat)(this.layout.blob(digest));
      return st.isFile() ? { size: st.size } : void 0;
    } catch (e) {
      if (e.code === "ENOENT") return void 0;
      throw e;
    }
  }
  /**
   * Removes a blob; removing an absent blob is not an error.
   *
   * @example
   * ```ts
   * await store.delete(digest)
   * ```
   */
  async delete(digest) {
    await (0, import_promises13.rm)(this.layout.blob(digest), { force: true });
  }
  /**
   * Absolute path of the blob file (it may not exist). For zero-copy readers: hard-linking into an
   * OCI layout or tar extraction. The file is read-only; never write through this path.
   *
   * @example
   * ```ts
   * await fs.link(store.pathOf(d), join(layoutDir, 'blobs/sha256', d.slice(7)))
   * ```
   */
  pathOf(digest) {
    return this.layout.blob(digest);
  }
  /**
   * Marks a blob as just used (sets its mtime), for least-recently-used pruning of blobs that no
   * cache entry references (such as base-image layers).
   *
   * @example
   * ```ts
   * await store.touch(baseLayer.digest)
   * ```
   */
  async touch(digest) {
    const t = this.now() / 1e3;
    try {
      await (0, import_promises13.utimes)(this.layout.blob(digest), t, t);
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
  }
  /**
   * Every stored blob, in no particular order. Files that are not named like a digest are skipped.
   *
   * @example
   * ```ts
   * for await (const b of store.list()) total += b.size
   * ```
   */
  async *list() {
    for (const algorithm of ALGORITHMS) {
      const dir = (0, import_node_path10.join)(this.layout.content, algorithm);
      const names = await readdirOrEmpty(dir);
      for (const name of names) {
        if (!HEX_RE.test(name) || name.length !== (algorithm === "sha256" ? 64 : 128)) continue;
        try {
          const st = await (0, import_promises13.lstat)((0, import_node_path10.join)(dir, name));
          if (st.isFile()) yield { digest: `${algorithm}:${name}`, size: st.size, mtimeMs: st.mtimeMs };
        } catch (e) {
          if (e.code !== "ENOENT") throw e;
        }
      }
    }
  }
  /**
   * Removes temp files of writers that crashed or were killed: files in `<root>/tmp` not written to
   * for `olderThan` ms (default 24 h). A live writer updates its file's mtime with every chunk.
   *
   * @example
   * ```ts
   * const { removed, bytes } = await store.cleanTemp({ olderThan: 60 * 60 * 1000 })
   * ```
   */
  async cleanTemp(options = {}) {
    const cutoff = this.now() - (options.olderThan ?? DEFAULT_TEMP_MAX_AGE_MS);
    let removed = 0;
    let bytes = 0;
    for (const name of await readdirOrEmpty(this.layout.tmp)) {
      const p = (0, import_node_path10.join)(this.layout.tmp, name);
      try {
        const st = await (0, import_promises13.lstat)(p);
        if (st.mtimeMs >= cutoff) continue;
        await (0, import_promises13.rm)(p, { force: true, recursive: true });
        removed++;
        bytes += st.size;
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }
    }
    return { removed, bytes };
  }
  /**
   * Sizes of the temp directory's files (what {@link cleanTemp} could free at most).
   *
   * @example
   * ```ts
   * const { files, bytes } = await store.tempUsage()
   * ```
   */
  async tempUsage() {
    let files = 0;
    let bytes = 0;
    for (const name of await readdirOrEmpty(this.layout.tmp)) {
      try {
        bytes += (await (0, import_promises13.lstat)((0, import_node_path10.join)(this.layout.tmp, name))).size;
        files++;
      } catch {
      }
    }
    return { files, bytes };
  }
};
async function writeAll(fh, buf) {
  let off = 0;
  while (off < buf.byteLength) {
    const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
    off += bytesWritten;
  }
}
async function readdirOrEmpty(dir) {
  try {
    return await (0, import_promises13.readdir)(dir);
  } catch (e) {
    if (e.code === "ENOENT") return [];
    throw e;
  }
}
async function removeIfSameFile(path28, ino) {
  if (ino !== void 0) {
    const st = await (0, import_promises13.lstat)(path28).catch(() => void 0);
    if (!st || st.ino !== ino) return;
  }
  await (0, import_promises13.unlink)(path28).catch((e) => {
    if (e.code !== "ENOENT") throw e;
  });
}

// packages/cache/src/cache-index.ts
var import_node_crypto7 = require("node:crypto");
var import_promises14 = require("node:fs/promises");
var import_node_path11 = require("node:path");

// packages/cache/src/keys.ts
var import_node_crypto6 = require("node:crypto");
var CACHE_KEY_VERSION = 1;
var DOMAIN = "build-image.cache-key";
var TYPE_ORDER = ["parent", "base", "platform", "op", "input", "arg", "env", "secret-id", "files", "extra"];
var TYPE_RANK = new Map(TYPE_ORDER.map((t, i) => [t, i]));
var SINGLETONS = /* @__PURE__ */ new Set(["parent", "base", "platform", "op"]);
function computeCacheKey(parts) {
  const canonical = canonicalizeParts(parts);
  const enc = new Encoder((0, import_node_crypto6.createHash)("sha256"));
  enc.listHeader(3);
  enc.str(DOMAIN);
  enc.str(`v${CACHE_KEY_VERSION}`);
  enc.listHeader(canonical.length);
  for (const part of canonical) encodePart(enc, part);
  return { key: `sha256:${enc.hash.digest("hex")}`, preimage: { version: CACHE_KEY_VERSION, parts: canonical } };
}
function keyOfPreimage(preimage) {
  if (preimage.version !== CACHE_KEY_VERSION) {
    throw new InvalidKeyPartError(`pre-image has key version ${preimage.version}; this build-image computes version ${CACHE_KEY_VERSION}`, {
      version: preimage.version
    });
  }
  return computeCacheKey(preimage.parts).key;
}
function comparePaths(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
function partName(p) {
  switch (p.type) {
    case "input":
    case "arg":
    case "env":
    case "files":
    case "extra":
      return p.name;
    case "secret-id":
      return p.value;
    default:
      return "";
  }
}
function canonicalizeParts(parts) {
  const out = parts.map(validatePart);
  out.sort((a, b) => TYPE_RANK.get(a.type) - TYPE_RANK.get(b.type) || comparePaths(partName(a), partName(b)));
  for (let i = 1; i < out.length; i++) {
    const a = out[i - 1];
    const b = out[i];
    if (a.type === b.type && partName(a) === partName(b)) {
      throw new InvalidKeyPartError(
        SINGLETONS.has(a.type) ? `cache key has two "${a.type}" parts; a step has at most one` : `cache key has two "${a.type}" parts named ${JSON.stringify(partName(a))}; names must be unique per type`,
        { type: a.type, name: partName(a) }
      );
    }
  }
  return out;
}
function validatePart(p) {
  const bad = (field) => {
    throw new InvalidKeyPartError(`cache key part "${String(p.type)}" has an invalid ${field}`, { part: describe(p) });
  };
  if (!p || typeof p !== "object" || !TYPE_RANK.has(p.type)) {
    throw new InvalidKeyPartError(`unknown cache key part type ${JSON.stringify(p?.type)}; known: ${TYPE_ORDER.join(", ")}`);
  }
  const isStr = (v) => typeof v === "string";
  switch (p.type) {
    case "parent":
      if (p.value !== null && !isStr(p.value)) bad("value");
      return { type: p.type, value: p.value };
    case "base":
    case "platform":
    case "op":
    case "secret-id":
      if (!isStr(p.value)) bad("value");
      return { type: p.type, value: p.value };
    case "input":
    case "extra":
      if (!isStr(p.name)) bad("name");
      if (p.value !== null && !isStr(p.value)) bad("value");
      return { type: p.type, name: p.name, value: p.value };
    case "arg":
    case "env":
      if (!isStr(p.name)) bad("name");
      if (!isStr(p.value)) bad("value");
      return { type: p.type, name: p.name, value: p.value };
    case "files":
      if (!isStr(p.name)) bad("name");
      if (!Array.isArray(p.entries)) bad("entries list");
      return { type: "files", name: p.name, entries: canonicalEntries(p.name, p.entries) };
  }
}
function describe(p) {
  if (p && typeof p === "object" && "entries" in p) return { ...p, entries: "[\u2026]" };
  return p;
}
function canonicalEntries(source, entries) {
  const out = new Array(entries.length);
  let sorted = true;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!e || typeof e.path !== "string" || typeof e.hash !== "string") {
      throw new InvalidKeyPartError(`file entry ${i} of ${JSON.stringify(source)} needs a string path and hash`, { source, index: i });
    }
    if (e.mode !== void 0 && !(Number.isSafeInteger(e.mode) && e.mode >= 0)) {
      throw new InvalidKeyPartError(`file ${JSON.stringify(e.path)} of ${JSON.stringify(source)} has an invalid mode ${String(e.mode)}`, { source, path: e.path });
    }
    out[i] = e.mode === void 0 ? { path: e.path, hash: e.hash } : { path: e.path, hash: e.hash, mode: e.mode };
    if (i > 0 && sorted && !(entries[i - 1].path < e.path)) sorted = false;
  }
  if (!sorted) out.sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < out.length; i++) {
    if (out[i - 1].path === out[i].path) {
      throw new InvalidKeyPartError(`file ${JSON.stringify(out[i].path)} appears twice in ${JSON.stringify(source)}`, { source, path: out[i].path });
    }
  }
  return out;
}
function encodePart(enc, p) {
  switch (p.type) {
    case "parent":
      enc.listHeader(2);
      enc.str(p.type);
      enc.strOrNull(p.value);
      return;
    case "base":
    case "platform":
    case "op":
    case "secret-id":
      enc.listHeader(2);
      enc.str(p.type);
      enc.str(p.value);
      return;
    case "input":
    case "arg":
    case "env":
    case "extra":
      enc.listHeader(3);
      enc.str(p.type);
      enc.str(p.name);
      enc.strOrNull(p.value);
      return;
    case "files":
      enc.listHeader(3);
      enc.str(p.type);
      enc.str(p.name);
      enc.listHeader(p.entries.length);
      for (const e of p.entries) {
        enc.listHeader(3);
        enc.str(e.path);
        enc.str(e.hash);
        enc.strOrNull(e.mode === void 0 ? null : e.mode.toString(8));
      }
  }
}
var Encoder = class {
  constructor(h) {
    this.h = h;
  }
  h;
  buf = Buffer.allocUnsafe(64 * 1024);
  off = 0;
  get hash() {
    this.flush();
    return this.h;
  }
  listHeader(count) {
    this.room(5);
    this.buf[this.off] = 108;
    this.buf.writeUInt32BE(count, this.off + 1);
    this.off += 5;
  }
  str(value) {
    const len = Buffer.byteLength(value, "utf8");
    this.room(5);
    this.buf[this.off] = 115;
    this.buf.writeUInt32BE(len, this.off + 1);
    this.off += 5;
    if (len > this.buf.length - this.off) {
      this.flush();
      if (len > this.buf.length) {
        this.h.update(value, "utf8");
        return;
      }
    }
    this.off += this.buf.write(value, this.off, "utf8");
  }
  strOrNull(value) {
    if (value !== null) return this.str(value);
    this.room(1);
    this.buf[this.off++] = 110;
  }
  room(n) {
    if (this.buf.length - this.off < n) this.flush();
  }
  flush() {
    if (this.off > 0) this.h.update(this.buf.subarray(0, this.off));
    this.off = 0;
  }
};

// packages/cache/src/cache-index.ts
var DEFAULT_ORPHAN_GRACE_MS = 10 * 60 * 1e3;
var KEY_HEX_RE = /^[0-9a-f]{64}$/;
var CacheIndex = class {
  constructor(store, options = {}) {
    this.store = store;
    this.now = options.now ?? Date.now;
  }
  store;
  now;
  get layout() {
    return this.store.layout;
  }
  /**
   * Records a result for a key, replacing any earlier one. Every referenced blob must already be in
   * the store (`E_BLOB_NOT_FOUND` otherwise). When a pre-image is given it must be the key's
   * (`E_INVALID_KEY_PART` otherwise); with a `stepId` it also becomes that step's latest history.
   *
   * @example
   * ```ts
   * await index.put(key, { layers: [{ mediaType, digest, size, diffId }] }, preimage, { stepId: 'build/3/RUN' })
   * ```
   */
  async put(key, result, preimage, options = {}) {
    const hex2 = keyHex(key);
    if (preimage) {
      const actual = keyOfPreimage(preimage);
      if (actual !== key) {
        throw new InvalidKeyPartError(`the pre-image given for ${key} hashes to ${actual}; pass the pre-image computeCacheKey returned with this key`, {
          key,
          actual
        });
      }
    }
    const refs = referencesOf(result);
    let size = 0;
    for (const d of refs) {
      const st = await this.store.stat(d);
      if (!st) throw new BlobNotFoundError(d, this.store.pathOf(d));
      size += st.size;
    }
    const nowMs = this.now();
    const createdAt = new Date(nowMs).toISOString();
    if (preimage) {
      const file2 = { v: 1, key, preimage };
      await writeFileAtomic(this.layout.tmp, this.layout.preimage(hex2), JSON.stringify(file2), { mtimeMs: nowMs, durable: false });
    }
    const entry = { v: 1, key, createdAt, size, result };
    await writeFileAtomic(this.layout.tmp, this.layout.entry(hex2), JSON.stringify(entry), { mtimeMs: nowMs, durable: false });
    if (options.stepId !== void 0 && preimage) await this.recordStep(options.stepId, key);
    return { ...result, key, createdAt, lastUsedAt: createdAt, size };
  }
  /**
   * Looks a key up. A hit marks the entry as just used (one `utimes`) and, with a `stepId`, records
   * the key as that step's latest. An entry whose blobs are gone (pruned meanwhile, or removed as
   * corrupt) is dropped and reported as a miss.
   *
   * @example
   * ```ts
   * const hit = await index.get(key, { stepId })
   * if (hit) reuse(hit.layers)
   * ```
   */
  async get(key, options = {}) {
    const hex2 = keyHex(key);
    const path28 = this.layout.entry(hex2);
    const entry = await readEntry(path28);
    if (!entry || entry.key !== key) return void 0;
    for (const d of referencesOf(entry.result)) {
      if (!await this.store.has(d)) {
        await this.delete(key);
        return void 0;
      }
    }
    const nowMs = this.now();
    try {
      await (0, import_promises14.utimes)(path28, nowMs / 1e3, nowMs / 1e3);
    } catch (e) {
      if (e.code === "ENOENT") return void 0;
      throw e;
    }
    if (options.stepId !== void 0) await this.recordStep(options.stepId, key);
    return { ...entry.result, key, createdAt: entry.createdAt, lastUsedAt: new Date(nowMs).toISOString(), size: entry.size };
  }
  /**
   * Like {@link get} but does not mark the entry as used and does not check its blobs.
   *
   * @example
   * ```ts
   * const rec = await index.peek(key)
   * ```
   */
  async peek(key) {
    const hex2 = keyHex(key);
    const path28 = this.layout.entry(hex2);
    const entry = await readEntry(path28);
    if (!entry || entry.key !== key) return void 0;
    const st = await (0, import_promises14.lstat)(path28).catch(() => void 0);
    if (!st) return void 0;
    return { ...entry.result, key, createdAt: entry.createdAt, lastUsedAt: new Date(st.mtimeMs).toISOString(), size: entry.size };
  }
  /**
   * The pre-image stored with a key, if any.
   *
   * @example
   * ```ts
   * const pre = await index.getPreimage(key)
   * ```
   */
  async getPreimage(key) {
    return (await readPreimage(this.layout.preimage(keyHex(key))))?.preimage;
  }
  /**
   * Makes `key`'s pre-image the latest recorded one for `stepId` (a stable step identity such as
   * `stage name + step number + instruction kind`). Returns false when the key has no pre-image.
   *
   * @example
   * ```ts
   * await index.recordStep('runtime/4/COPY', key)
   * ```
   */
  async recordStep(stepId, key) {
    const src = this.layout.preimage(keyHex(key));
    try {
      const dest = this.layout.historyFile(stepHex(stepId));
      await linkAtomic(this.layout.tmp, src, dest, () => (0, import_promises14.readFile)(src));
      const t = this.now() / 1e3;
      await (0, import_promises14.utimes)(dest, t, t);
      return true;
    } catch (e) {
      if (e.code === "ENOENT") return false;
      throw e;
    }
  }
  /**
   * The last pre-image recorded for a step identity (by {@link put} or a {@link get} hit with that
   * `stepId`), to explain a miss with {@link explainMiss}.
   *
   * @example
   * ```ts
   * const reasons = explainMiss(preimage, (await index.findNearest(stepId))?.preimage)
   * ```
   */
  async findNearest(stepId) {
    const file2 = await readPreimage(this.layout.historyFile(stepHex(stepId)));
    return file2 ? { key: file2.key, preimage: file2.preimage } : void 0;
  }
  /**
   * Removes an entry (not its blobs; {@link prune} removes unreferenced blobs).
   *
   * @example
   * ```ts
   * await index.delete(key)
   * ```
   */
  async delete(key) {
    const hex2 = keyHex(key);
    await (0, import_promises14.rm)(this.layout.entry(hex2), { force: true });
    await (0, import_promises14.rm)(this.layout.preimage(hex2), { force: true });
  }
  /**
   * Every entry, in no particular order, without marking any as used.
   *
   * @example
   * ```ts
   * for await (const rec of index.list()) console.log(rec.key, rec.lastUsedAt)
   * ```
   */
  async *list() {
    for (const e of await this.scanEntries()) {
      const rec = await this.peek(e.key);
      if (rec) yield rec;
    }
  }
  /**
   * Sizes of everything in the cache.
   *
   * @example
   * ```ts
   * const du = await index.diskUsage()
   * console.log(`${du.entries} entries, ${du.totalBytes} bytes, ${du.reclaimableBytes} reclaimable`)
   * ```
   */
  async diskUsage() {
    const entries = await this.scanEntries();
    const referenced = /* @__PURE__ */ new Set();
    for (const e of entries) for (const d of e.refs) referenced.add(d);
    let blobs = 0;
    let blobBytes = 0;
    let orphanBlobs = 0;
    let orphanBytes = 0;
    for await (const b of this.store.list()) {
      blobs++;
      blobBytes += b.size;
      if (!referenced.has(b.digest)) {
        orphanBlobs++;
        orphanBytes += b.size;
      }
    }
    const history = await this.scanHistory();
    const historyBytes = history.reduce((n, h) => n + (h.nlink === 1 ? h.size : 0), 0);
    const temp = await this.store.tempUsage();
    const entryBytes = entries.reduce((n, e) => n + e.bytes, 0);
    return {
      entries: entries.length,
      entryBytes,
      blobs,
      blobBytes,
      orphanBlobs,
      orphanBytes,
      historyBytes,
      tempFiles: temp.files,
      tempBytes: temp.bytes,
      totalBytes: entryBytes + blobBytes + historyBytes + temp.bytes,
      reclaimableBytes: orphanBytes + temp.bytes
    };
  }
  /**
   * Frees space: least recently used entries first, each with the blobs only it referenced (a blob
   * another remaining entry references stays). Blobs no entry references count as used at their
   * mtime and go in the same order, after a grace period. Temp files of crashed writers go by age.
   *
   * A prune racing with a `put` in another process can at worst remove a blob the new entry
   * needs; `get` then drops that entry and reports a miss, never a broken hit.
   *
   * @example
   * ```ts
   * const { freedBytes } = await index.prune({ maxBytes: 10 * 2 ** 30, olderThan: 7 * 86_400_000 })
   * ```
   */
  async prune(options = {}) {
    const nowMs = this.now();
    const temp = await this.store.cleanTemp(options.tempOlderThan === void 0 ? {} : { olderThan: options.tempOlderThan });
    const entries = await this.scanEntries();
    const refCount = /* @__PURE__ */ new Map();
    for (const e of entries) for (const d of e.refs) refCount.set(d, (refCount.get(d) ?? 0) + 1);
    const blobs = /* @__PURE__ */ new Map();
    for await (const b of this.store.list()) blobs.set(b.digest, { size: b.size, mtimeMs: b.mtimeMs });
    const history = await this.scanHistory();
    const tempLeft = await this.store.tempUsage();
    let total = entries.reduce((n, e) => n + e.bytes, 0) + tempLeft.bytes;
    for (const b of blobs.values()) total += b.size;
    for (const h of history) if (h.nlink === 1) total += h.size;
    const grace = options.orphanGrace ?? DEFAULT_ORPHAN_GRACE_MS;
    const candidates = entries.map((e) => ({ kind: "entry", at: e.lastUsedMs, id: e.key, entry: e }));
    for (const [digest, b] of blobs) {
      if (!refCount.has(digest) && (options.all || b.mtimeMs <= nowMs - grace)) candidates.push({ kind: "orphan", at: b.mtimeMs, id: digest });
    }
    candidates.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const cutoff = options.olderThan === void 0 ? void 0 : nowMs - options.olderThan;
    const removedEntries = [];
    const removedBlobs = [];
    let freed = temp.bytes;
    const removeBlob = async (digest) => {
      const b = blobs.get(digest);
      if (!b) return;
      await this.store.delete(digest);
      blobs.delete(digest);
      removedBlobs.push(digest);
      freed += b.size;
      total -= b.size;
    };
    for (const c of candidates) {
      const expired = cutoff !== void 0 && c.at < cutoff;
      const over = options.maxBytes !== void 0 && total > options.maxBytes;
      if (!options.all && !expired && !over) break;
      if (c.kind === "orphan") {
        await removeBlob(c.id);
        continue;
      }
      const preimageShared = await this.deleteEntryFiles(c.entry.hex);
      removedEntries.push(c.entry.key);
      const freedHere = preimageShared ? c.entry.bytes - preimageShared : c.entry.bytes;
      freed += freedHere;
      total -= c.entry.bytes;
      if (preimageShared) total += preimageShared;
      for (const d of new Set(c.entry.refs)) {
        const n = (refCount.get(d) ?? 1) - 1;
        if (n > 0) refCount.set(d, n);
        else {
          refCount.delete(d);
          await removeBlob(d);
        }
      }
    }
    for (const h of await this.scanHistory()) {
      if (options.all || cutoff !== void 0 && h.mtimeMs < cutoff) {
        await (0, import_promises14.rm)(h.path, { force: true });
        if (h.nlink === 1) {
          freed += h.size;
          total -= h.size;
        }
      }
    }
    return { removedEntries, removedBlobs, removedTempFiles: temp.removed, freedBytes: freed, remainingBytes: Math.max(0, total) };
  }
  /** Removes an entry's files; returns the pre-image's size when a history link keeps it alive (else 0). */
  async deleteEntryFiles(hex2) {
    await (0, import_promises14.rm)(this.layout.entry(hex2), { force: true });
    const pre = this.layout.preimage(hex2);
    const st = await (0, import_promises14.lstat)(pre).catch(() => void 0);
    await (0, import_promises14.rm)(pre, { force: true });
    return st && st.nlink > 1 ? st.size : 0;
  }
  async scanEntries() {
    const out = [];
    for (const dir of await readdirOrEmpty2(this.layout.index)) {
      const full = (0, import_node_path11.join)(this.layout.index, dir);
      for (const name of await readdirOrEmpty2(full)) {
        const m = /^([0-9a-f]{64})\.json$/.exec(name);
        if (!m) continue;
        const hex2 = m[1];
        const path28 = (0, import_node_path11.join)(full, name);
        const st = await (0, import_promises14.lstat)(path28).catch(() => void 0);
        if (!st) continue;
        const entry = await readEntry(path28);
        if (!entry) continue;
        const pre = await (0, import_promises14.lstat)(this.layout.preimage(hex2)).catch(() => void 0);
        out.push({ key: `sha256:${hex2}`, hex: hex2, lastUsedMs: st.mtimeMs, bytes: st.size + (pre?.size ?? 0), refs: referencesOf(entry.result) });
      }
    }
    return out;
  }
  async scanHistory() {
    const out = [];
    for (const dir of await readdirOrEmpty2(this.layout.history)) {
      const full = (0, import_node_path11.join)(this.layout.history, dir);
      for (const name of await readdirOrEmpty2(full)) {
        const path28 = (0, import_node_path11.join)(full, name);
        const st = await (0, import_promises14.lstat)(path28).catch(() => void 0);
        if (st?.isFile()) out.push({ path: path28, size: st.size, nlink: st.nlink, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }
};
function referencesOf(result) {
  const out = /* @__PURE__ */ new Set();
  for (const l of result.layers ?? []) {
    if (!isDigest2(l.digest)) throw new InvalidDigestError(String(l.digest));
    out.add(l.digest);
  }
  for (const d of result.blobs ?? []) {
    if (!isDigest2(d)) throw new InvalidDigestError(String(d));
    out.add(d);
  }
  return [...out];
}
function keyHex(key) {
  const { algorithm, hex: hex2 } = parseDigest2(key);
  if (algorithm !== "sha256" || !KEY_HEX_RE.test(hex2)) throw new InvalidDigestError(key);
  return hex2;
}
function stepHex(stepId) {
  return (0, import_node_crypto7.createHash)("sha256").update(stepId, "utf8").digest("hex");
}
async function readEntry(path28) {
  let text;
  try {
    text = await (0, import_promises14.readFile)(path28, "utf8");
  } catch (e) {
    if (e.code === "ENOENT") return void 0;
    throw e;
  }
  try {
    const v = JSON.parse(text);
    return v && v.v === 1 && typeof v.key === "string" && v.result && typeof v.result === "object" ? v : void 0;
  } catch {
    return void 0;
  }
}
async function readPreimage(path28) {
  try {
    const v = JSON.parse(await (0, import_promises14.readFile)(path28, "utf8"));
    return v && v.v === 1 && v.preimage && Array.isArray(v.preimage.parts) ? v : void 0;
  } catch {
    return void 0;
  }
}
async function readdirOrEmpty2(dir) {
  try {
    return await (0, import_promises14.readdir)(dir);
  } catch (e) {
    if (e.code === "ENOENT" || e.code === "ENOTDIR") return [];
    throw e;
  }
}

// packages/cache/src/explain.ts
function explainMiss(current, previous) {
  if (!previous) return [{ kind: "no-history" }];
  if (previous.version !== current.version) return [{ kind: "key-version-changed", before: previous.version, after: current.version }];
  const reasons = [];
  const before = groupParts(previous.parts);
  const after = groupParts(current.parts);
  const single = (type) => {
    const b = before.singles.get(type);
    const a = after.singles.get(type);
    if (b === a) return;
    const r = { kind: `${type}-changed` };
    if (b !== void 0) r["before"] = b;
    if (a !== void 0) r["after"] = a;
    reasons.push(r);
  };
  single("parent");
  single("base");
  single("platform");
  single("op");
  for (const type of ["input", "arg", "env", "extra"]) {
    const b = before.named.get(type) ?? /* @__PURE__ */ new Map();
    const a = after.named.get(type) ?? /* @__PURE__ */ new Map();
    for (const name of unionSorted(b.keys(), a.keys())) {
      const has0 = b.has(name);
      const has1 = a.has(name);
      const v0 = b.get(name);
      const v1 = a.get(name);
      if (has0 && has1 && v0 === v1) continue;
      const r = { kind: `${type}-changed`, name };
      if (has0) r["before"] = v0;
      if (has1) r["after"] = v1;
      reasons.push(r);
    }
  }
  for (const id of unionSorted(before.secrets.keys(), after.secrets.keys())) {
    if (before.secrets.has(id) && after.secrets.has(id)) continue;
    reasons.push({ kind: "secret-changed", id, change: after.secrets.has(id) ? "added" : "removed" });
  }
  for (const source of unionSorted(before.files.keys(), after.files.keys())) {
    const b = before.files.get(source);
    const a = after.files.get(source);
    if (!b) reasons.push({ kind: "source-changed", source, change: "added", files: a.length });
    else if (!a) reasons.push({ kind: "source-changed", source, change: "removed", files: b.length });
    else diffFiles(source, b, a, reasons);
  }
  return reasons.length === 0 ? [{ kind: "not-cached" }] : reasons;
}
function diffFiles(source, before, after, out = []) {
  const b = ensureSorted(before);
  const a = ensureSorted(after);
  let i = 0;
  let j = 0;
  const side = (e) => e.mode === void 0 ? { hash: e.hash } : { hash: e.hash, mode: e.mode };
  while (i < b.length || j < a.length) {
    const eb = b[i];
    const ea = a[j];
    const c = eb === void 0 ? 1 : ea === void 0 ? -1 : comparePaths(eb.path, ea.path);
    if (c < 0) {
      out.push({ kind: "file-changed", source, path: eb.path, change: "removed", before: side(eb) });
      i++;
    } else if (c > 0) {
      out.push({ kind: "file-changed", source, path: ea.path, change: "added", after: side(ea) });
      j++;
    } else {
      if (eb.hash !== ea.hash || eb.mode !== ea.mode) {
        const change = eb.hash === ea.hash ? "mode" : "content";
        out.push({ kind: "file-changed", source, path: ea.path, change, before: side(eb), after: side(ea) });
      }
      i++;
      j++;
    }
  }
  return out;
}
function formatMissReason(r) {
  const q = (v) => v === void 0 ? "none" : v === null ? "null" : JSON.stringify(v);
  const pair = (label2, before, after) => {
    if (before === void 0) return `${label2} added (${q(after)})`;
    if (after === void 0) return `${label2} removed (was ${q(before)})`;
    return `${label2} changed (${q(before)} \u2192 ${q(after)})`;
  };
  switch (r.kind) {
    case "no-history":
      return "no earlier build of this step is recorded";
    case "not-cached":
      return "inputs are unchanged since the last recorded build, but its result is no longer cached (pruned?)";
    case "key-version-changed":
      return `cache key format changed (v${r.before} \u2192 v${r.after})`;
    case "parent-changed":
      return "previous step changed";
    case "base-changed":
      return `base image changed (${r.before ?? "none"} \u2192 ${r.after ?? "none"})`;
    case "platform-changed":
      return `platform changed (${q(r.before)} \u2192 ${q(r.after)})`;
    case "op-changed":
      return `instruction changed (${q(r.before)} \u2192 ${q(r.after)})`;
    case "input-changed":
      return pair(`input ${r.name}`, r.before, r.after).replace(/ \(.*\)$/, "");
    case "arg-changed":
      return pair(`ARG ${r.name}`, r.before, r.after);
    case "env-changed":
      return pair(`ENV ${r.name}`, r.before, r.after);
    case "secret-changed":
      return `secret ${JSON.stringify(r.id)} ${r.change}`;
    case "extra-changed":
      return pair(r.name, r.before, r.after);
    case "source-changed":
      return `${r.source} ${r.change} (${r.files} file${r.files === 1 ? "" : "s"})`;
    case "file-changed":
      if (r.change === "content") return `${r.path} changed`;
      if (r.change === "mode") return `${r.path} mode changed (${octal(r.before?.mode)} \u2192 ${octal(r.after?.mode)})`;
      return `${r.path} ${r.change}`;
  }
}
function formatMissReasons(reasons, options = {}) {
  const maxFiles = options.maxFiles ?? 10;
  const lines = [];
  let files = 0;
  for (const r of reasons) {
    if (r.kind === "file-changed" && files++ >= maxFiles) continue;
    lines.push(formatMissReason(r));
  }
  if (files > maxFiles) lines.push(`\u2026 and ${files - maxFiles} more file${files - maxFiles === 1 ? "" : "s"} changed`);
  return lines;
}
function octal(mode) {
  return mode === void 0 ? "none" : mode.toString(8).padStart(4, "0");
}
function groupParts(parts) {
  const g = { singles: /* @__PURE__ */ new Map(), named: /* @__PURE__ */ new Map(), secrets: /* @__PURE__ */ new Set(), files: /* @__PURE__ */ new Map() };
  for (const p of parts) {
    switch (p.type) {
      case "parent":
      case "base":
      case "platform":
      case "op":
        g.singles.set(p.type, p.value);
        break;
      case "input":
      case "arg":
      case "env":
      case "extra": {
        let m = g.named.get(p.type);
        if (!m) g.named.set(p.type, m = /* @__PURE__ */ new Map());
        m.set(p.name, p.value);
        break;
      }
      case "secret-id":
        g.secrets.add(p.value);
        break;
      case "files":
        g.files.set(p.name, p.entries);
    }
  }
  return g;
}
function unionSorted(a, b) {
  return [.../* @__PURE__ */ new Set([...a, ...b])].sort(comparePaths);
}
function ensureSorted(entries) {
  for (let i = 1; i < entries.length; i++) {
    if (!(entries[i - 1].path < entries[i].path)) return [...entries].sort((x, y) => comparePaths(x.path, y.path));
  }
  return entries;
}

// packages/builder/src/remote-cache/format.ts
var CACHE_ARTIFACT_TYPE = "application/vnd.build-image.cache.v1+json";
var CACHE_CONFIG_MEDIA_TYPE = "application/vnd.build-image.cache.config.v1+json";
var CACHE_BLOB_MEDIA_TYPE = "application/octet-stream";
var MOUNT_ID_ANNOTATION = "dev.build-image.cache.mount.id";
async function collectRecords(entries, index, mode) {
  const chosen = /* @__PURE__ */ new Map();
  for (const e of entries) {
    if (mode === "min" && e.stage !== "target") continue;
    const prev = chosen.get(e.key);
    if (!prev || prev.stepId === void 0 && e.stepId !== void 0) chosen.set(e.key, e);
  }
  const records = [];
  const skipped = [];
  for (const e of [...chosen.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) {
    const rec = await index.peek(e.key);
    if (!rec) {
      skipped.push({ kind: "entry", id: e.key, reason: "not in the local cache index (pruned?)" });
      continue;
    }
    const result = {};
    if (rec.layers) result.layers = rec.layers;
    if (rec.config !== void 0) result.config = rec.config;
    if (rec.blobs) result.blobs = rec.blobs;
    if (rec.metadata) result.metadata = rec.metadata;
    const preimage = await index.getPreimage(e.key);
    records.push({ key: e.key, ...e.stepId !== void 0 ? { stepId: e.stepId } : {}, ...preimage ? { preimage } : {}, result });
  }
  return { records, skipped };
}
async function blobDescriptors(records, mounts, store) {
  const byDigest = /* @__PURE__ */ new Map();
  const skipped = [];
  const kept = [];
  for (const r of records) {
    const own = [];
    let missing;
    for (const l of r.result.layers ?? []) {
      if (!await store.stat(l.digest)) missing ??= l.digest;
      own.push({ mediaType: l.mediaType, digest: l.digest, size: l.size });
    }
    for (const d of r.result.blobs ?? []) {
      const st = await store.stat(d);
      if (!st) missing ??= d;
      else own.push({ mediaType: CACHE_BLOB_MEDIA_TYPE, digest: d, size: st.size });
    }
    if (missing) {
      skipped.push({ kind: "entry", id: r.key, reason: `blob ${missing} is not in the local store` });
      continue;
    }
    kept.push(r);
    for (const d of own) if (!byDigest.has(d.digest)) byDigest.set(d.digest, d);
  }
  for (const m of mounts) {
    if (!byDigest.has(m.layer.digest)) {
      byDigest.set(m.layer.digest, { mediaType: m.layer.mediaType, digest: m.layer.digest, size: m.layer.size, annotations: { [MOUNT_ID_ANNOTATION]: m.id } });
    }
  }
  return { blobs: [...byDigest.values()], records: kept, skipped };
}
function recordBlobs(r) {
  return referencesOf(r.result);
}
function buildCacheArtifact(records, mounts, blobs) {
  const cfg2 = { schema: "build-image.cache", version: 1, records, mounts };
  const config = canonicalJsonBytes(cfg2);
  const configDescriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Digest(config), size: config.length };
  const manifestObj = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: configDescriptor,
    layers: blobs
  };
  const manifest = canonicalJsonBytes(manifestObj);
  return { config, configDescriptor, manifest, manifestDescriptor: { mediaType: MediaType.OciManifest, digest: sha256Digest(manifest), size: manifest.length } };
}
function parseCacheManifest(bytes, where) {
  let m;
  try {
    m = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `the cache manifest at ${where} is not valid JSON`, { where }, e);
  }
  if (!m || m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `${where} is not a cache manifest (no config or layers)`, { where });
  }
  if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    const hint = m.config.mediaType === "application/vnd.buildkit.cacheconfig.v0" ? " (it was written by BuildKit, whose cache format build-image does not read)" : "";
    throw new RemoteCacheError("E_CACHE_IMPORT", `${where} is not a build-image cache: its config media type is ${m.config.mediaType}${hint}`, {
      where,
      mediaType: m.config.mediaType
    });
  }
  for (const l of m.layers) {
    if (!isDigest2(l.digest) || !Number.isSafeInteger(l.size) || l.size < 0) {
      throw new RemoteCacheError("E_CACHE_IMPORT", `${where}: the cache manifest lists a malformed blob descriptor`, { where });
    }
  }
  return m;
}
function parseCacheConfig(bytes, where) {
  let c;
  try {
    c = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `the cache config of ${where} is not valid JSON`, { where }, e);
  }
  if (!c || c.schema !== "build-image.cache" || !Array.isArray(c.records)) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `the cache config of ${where} is not a build-image cache config`, { where });
  }
  if (c.version !== 1) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `the cache at ${where} has format version ${String(c.version)}; this build-image reads version 1 (upgrade build-image)`, {
      where,
      version: c.version
    });
  }
  c.mounts ??= [];
  return c;
}

// packages/builder/src/remote-cache/gha-backend.ts
var import_node_crypto9 = require("node:crypto");
var import_node_fs8 = require("node:fs");
var import_node_stream9 = require("node:stream");

// packages/builder/src/remote-cache/gha.ts
var import_node_crypto8 = require("node:crypto");
var import_node_stream8 = require("node:stream");
var GHA_CACHE_VERSION = (0, import_node_crypto8.createHash)("sha256").update("build-image.remote-cache.v1").digest("hex");
var TWIRP_SERVICE = "github.actions.results.api.v1.CacheService";
var V1_ACCEPT = "application/json;api-version=6.0-preview.1";
var AZURE_VERSION = "2023-11-03";
function sleep(ms, signal) {
  return new Promise((resolve5, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve5();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
function retryAfterMs(v) {
  if (!v) return void 0;
  if (/^\d+$/.test(v)) return Number(v) * 1e3;
  const t = Date.parse(v);
  return Number.isNaN(t) ? void 0 : Math.max(0, t - Date.now());
}
var GhaCacheClient = class {
  constructor(endpoint, options = {}) {
    this.endpoint = endpoint;
    this.options = options;
    this.retries = options.retries ?? 4;
    this.baseDelay = options.retryBaseDelayMs ?? 1e3;
    this.chunkSize = Math.max(1, options.chunkSize ?? 32 * 1024 * 1024);
  }
  endpoint;
  options;
  retries;
  baseDelay;
  chunkSize;
  /** fetch with backoff on 429/5xx/connection errors. `init` is a function so bodies can be reopened. */
  async request(url, init, signal, what) {
    for (let attempt = 0; ; attempt++) {
      let res;
      let failure;
      try {
        res = await fetch(url, { ...init(), signal });
      } catch (e) {
        if (signal.aborted) throw e;
        failure = e;
      }
      const retryable = !res || res.status === 429 || res.status >= 500;
      if (res && !retryable) return res;
      if (attempt >= this.retries) {
        if (res) return res;
        const origin = new URL(url).origin;
        throw new RemoteCacheError("E_CACHE_EXPORT", `GitHub Actions cache: ${what} failed: cannot reach ${origin}: ${errorMessage(failure)}`, { url: origin }, failure);
      }
      const delay = Math.min(6e4, Math.max((res && retryAfterMs(res.headers.get("retry-after"))) ?? 0, this.baseDelay * 2 ** attempt));
      if (res) {
        await res.arrayBuffer().catch(() => void 0);
        if (res.status === 429) this.options.onThrottle?.({ url: new URL(url).origin + new URL(url).pathname, delayMs: delay, attempt });
      }
      await sleep(delay, signal);
    }
  }
  authHeaders() {
    return { authorization: `Bearer ${this.endpoint.token}` };
  }
  async fail(res, what) {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    let msg = text;
    try {
      const j = JSON.parse(text);
      msg = j.msg ?? j.message ?? text;
    } catch {
    }
    const hint = res.status === 401 || res.status === 403 ? " (is ACTIONS_RUNTIME_TOKEN current? it is valid only inside the job that received it)" : "";
    throw new RemoteCacheError("E_CACHE_EXPORT", `GitHub Actions cache: ${what} answered ${res.status}${msg ? `: ${msg}` : ""}${hint}`, { status: res.status });
  }
  async twirp(method, body, signal) {
    const url = new URL(`/twirp/${TWIRP_SERVICE}/${method}`, this.endpoint.url).toString();
    const res = await this.request(
      url,
      () => ({ method: "POST", headers: { ...this.authHeaders(), "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) }),
      signal,
      method
    );
    if (!res.ok) return { status: res.status, json: void 0, res };
    return { status: res.status, json: await res.json(), res };
  }
  v1url(resource) {
    const base = this.endpoint.url.endsWith("/") ? this.endpoint.url : `${this.endpoint.url}/`;
    return new URL(`_apis/artifactcache/${resource}`, base).toString();
  }
  /**
   * The entry stored under `key`, else the newest whose key starts with one of `restoreKeys`.
   * Undefined when none exists.
   *
   * @example
   * ```ts
   * const entry = await gha.lookup(prefix, [prefix], signal) // newest manifest of a scope
   * ```
   */
  async lookup(key, restoreKeys, signal) {
    if (this.endpoint.version === 2) {
      const { json, res: res2, status } = await this.twirp(
        "GetCacheEntryDownloadURL",
        { key, restore_keys: restoreKeys, version: GHA_CACHE_VERSION },
        signal
      );
      if (status === 404) return void 0;
      if (!json) return this.fail(res2, "GetCacheEntryDownloadURL");
      const url2 = json.signed_download_url ?? json.signedDownloadUrl;
      if (!json.ok || !url2) return void 0;
      return { key: json.matched_key ?? json.matchedKey ?? key, url: url2 };
    }
    const keys = [key, ...restoreKeys].join(",");
    const url = `${this.v1url("cache")}?keys=${encodeURIComponent(keys)}&version=${GHA_CACHE_VERSION}`;
    const res = await this.request(url, () => ({ method: "GET", headers: { ...this.authHeaders(), accept: V1_ACCEPT } }), signal, "cache lookup");
    if (res.status === 204 || res.status === 404) {
      await res.arrayBuffer().catch(() => void 0);
      return void 0;
    }
    if (!res.ok) return this.fail(res, "cache lookup");
    const j = await res.json();
    if (!j.archiveLocation) return void 0;
    return { key: j.cacheKey ?? key, url: j.archiveLocation };
  }
  /**
   * Downloads an entry found by {@link lookup}; the caller consumes (and verifies) the body.
   *
   * @example
   * ```ts
   * await store.put(await gha.download(entry, signal), { expected: digest, size })
   * ```
   */
  async download(entry, signal) {
    const res = await this.request(entry.url, () => ({ method: "GET" }), signal, `download of ${entry.key}`);
    if (!res.ok || !res.body) return this.fail(res, `download of ${entry.key}`);
    return import_node_stream8.Readable.fromWeb(res.body);
  }
  /**
   * Stores `body.size` bytes under `key`, reading them with `body.open(start, end)` (called again
   * for a retry or per block). Resolves `'exists'` when the key is already taken (entries are
   * immutable, and ours are content-addressed or unique), `'uploaded'` otherwise.
   *
   * @example
   * ```ts
   * await gha.save('build-image-blob-v1-sha256:…', { size, open: (s, e) => createReadStream(path, { start: s, end: e - 1 }) }, signal)
   * ```
   */
  async save(key, body, signal) {
    return this.endpoint.version === 2 ? this.saveV2(key, body.size, body.open, signal) : this.saveV1(key, body.size, body.open, signal);
  }
  async saveV2(key, size, open6, signal) {
    const created = await this.twirp(
      "CreateCacheEntry",
      { key, version: GHA_CACHE_VERSION },
      signal
    );
    if (created.status === 409) {
      await created.res.arrayBuffer().catch(() => void 0);
      return "exists";
    }
    if (!created.json) return this.fail(created.res, `CreateCacheEntry ${key}`);
    const uploadUrl = created.json.signed_upload_url ?? created.json.signedUploadUrl;
    if (!created.json.ok || !uploadUrl) return "exists";
    await this.uploadAzure(uploadUrl, size, open6, signal, key);
    const fin = await this.twirp("FinalizeCacheEntryUpload", { key, version: GHA_CACHE_VERSION, size_bytes: String(size) }, signal);
    if (!fin.json) return this.fail(fin.res, `FinalizeCacheEntryUpload ${key}`);
    if (!fin.json.ok) throw new RemoteCacheError("E_CACHE_EXPORT", `GitHub Actions cache: FinalizeCacheEntryUpload ${key} was refused (ok=false)`, { key });
    return "uploaded";
  }
  async uploadAzure(url, size, open6, signal, key) {
    const put = async (target, headers, body, what) => {
      const res = await this.request(target, () => ({ method: "PUT", headers: { "x-ms-version": AZURE_VERSION, ...headers }, body: body(), duplex: "half" }), signal, what);
      if (res.status !== 201 && res.status !== 200) return this.fail(res, what);
      await res.arrayBuffer().catch(() => void 0);
    };
    const stream = (start2, end) => () => import_node_stream8.Readable.toWeb(open6(start2, end));
    if (size <= this.chunkSize) {
      await put(url, { "x-ms-blob-type": "BlockBlob", "content-type": "application/octet-stream", "content-length": String(size) }, stream(0, size), `upload of ${key}`);
      return;
    }
    const ids = [];
    for (let start2 = 0, n = 0; start2 < size; start2 += this.chunkSize, n++) {
      const end = Math.min(size, start2 + this.chunkSize);
      const id = Buffer.from(`block-${String(n).padStart(8, "0")}`).toString("base64");
      ids.push(id);
      const u2 = new URL(url);
      u2.searchParams.set("comp", "block");
      u2.searchParams.set("blockid", id);
      await put(u2.toString(), { "content-length": String(end - start2) }, stream(start2, end), `upload of block ${n} of ${key}`);
    }
    const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
    const u = new URL(url);
    u.searchParams.set("comp", "blocklist");
    await put(u.toString(), { "content-type": "application/xml" }, () => list, `commit of ${key}`);
  }
  async saveV1(key, size, open6, signal) {
    const headers = { ...this.authHeaders(), accept: V1_ACCEPT };
    const reserve = await this.request(
      this.v1url("caches"),
      () => ({ method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ key, version: GHA_CACHE_VERSION, cacheSize: size }) }),
      signal,
      `reserve ${key}`
    );
    if (reserve.status === 409) {
      await reserve.arrayBuffer().catch(() => void 0);
      return "exists";
    }
    if (!reserve.ok) return this.fail(reserve, `reserve ${key}`);
    const { cacheId: cacheId2 } = await reserve.json();
    if (cacheId2 === void 0) throw new RemoteCacheError("E_CACHE_EXPORT", `GitHub Actions cache: reserve ${key} returned no cacheId`, { key });
    for (let start2 = 0; start2 < size; start2 += this.chunkSize) {
      const end = Math.min(size, start2 + this.chunkSize);
      const res = await this.request(
        this.v1url(`caches/${cacheId2}`),
        () => ({
          method: "PATCH",
          headers: { ...headers, "content-type": "application/octet-stream", "content-range": `bytes ${start2}-${end - 1}/*`, "content-length": String(end - start2) },
          body: import_node_stream8.Readable.toWeb(open6(start2, end)),
          duplex: "half"
        }),
        signal,
        `upload of ${key}`
      );
      if (!res.ok) return this.fail(res, `upload of ${key}`);
      await res.arrayBuffer().catch(() => void 0);
    }
    const commit = await this.request(
      this.v1url(`caches/${cacheId2}`),
      () => ({ method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ size }) }),
      signal,
      `commit of ${key}`
    );
    if (!commit.ok) return this.fail(commit, `commit of ${key}`);
    await commit.arrayBuffer().catch(() => void 0);
    return "uploaded";
  }
};

// packages/builder/src/remote-cache/gha-backend.ts
var MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
function ghaBlobKey(digest) {
  return `build-image-blob-v1-${digest}`;
}
function ghaManifestPrefix(scope) {
  return `build-image-manifest-v1-${scope}#`;
}
var GhaCacheWriter = class {
  name;
  client;
  constructor(endpoint, options = {}) {
    this.name = `gha scope ${endpoint.scope}`;
    this.client = new GhaCacheClient(endpoint, options);
    this.now = options.now ?? Date.now;
  }
  now;
  async putBlob(desc, store, signal) {
    const key = ghaBlobKey(desc.digest);
    if (await this.client.lookup(key, [], signal)) return "exists";
    const path28 = store.pathOf(desc.digest);
    const open6 = (start2, end) => (
      // The whole blob is read through the store, which verifies it; ranges (large blobs) read the file.
      start2 === 0 && end === desc.size ? store.get(desc.digest) : (0, import_node_fs8.createReadStream)(path28, { start: start2, end: end - 1 })
    );
    return this.client.save(key, { size: desc.size, open: open6 }, signal);
  }
  async putManifest(bytes, _desc, signal) {
    const key = `${ghaManifestPrefix(this.client.endpoint.scope)}${String(this.now()).padStart(15, "0")}-${(0, import_node_crypto9.randomBytes)(4).toString("hex")}`;
    await this.client.save(key, { size: bytes.length, open: (s, e) => import_node_stream9.Readable.from([bytes.subarray(s, e)]) }, signal);
  }
};
var GhaCacheReader = class {
  name;
  client;
  constructor(endpoint, options = {}) {
    this.name = `gha scope ${endpoint.scope}`;
    this.client = new GhaCacheClient(endpoint, options);
  }
  async getManifest(signal) {
    const prefix = ghaManifestPrefix(this.client.endpoint.scope);
    const entry = await this.client.lookup(prefix, [prefix], signal);
    if (!entry) return void 0;
    const chunks = [];
    let total = 0;
    for await (const c of await this.client.download(entry, signal)) {
      total += c.length;
      if (total > MAX_MANIFEST_BYTES) throw new RemoteCacheError("E_CACHE_IMPORT", `${this.name}: the cache manifest entry ${entry.key} is larger than ${MAX_MANIFEST_BYTES} bytes`, {});
      chunks.push(c);
    }
    return { bytes: Buffer.concat(chunks) };
  }
  async fetchBlob(desc, store, signal) {
    if (await store.has(desc.digest)) return;
    const entry = await this.client.lookup(ghaBlobKey(desc.digest), [], signal);
    if (!entry) throw new RemoteCacheError("E_CACHE_NOT_FOUND", `${this.name}: blob ${desc.digest} is not in the GitHub Actions cache (evicted?)`, { digest: desc.digest });
    await store.put(await this.client.download(entry, signal), { expected: desc.digest, size: desc.size });
  }
};

// packages/builder/src/remote-cache/local.ts
var import_node_crypto10 = require("node:crypto");
var import_node_fs9 = require("node:fs");
var import_promises15 = require("node:fs/promises");
var import_node_path12 = require("node:path");
var import_promises16 = require("node:stream/promises");
var import_node_fs10 = require("node:fs");
function blobPath(dir, digest) {
  const [alg, hex2] = digest.split(":");
  return (0, import_node_path12.join)(dir, "blobs", alg, hex2);
}
async function sizeOf(path28) {
  try {
    return (await (0, import_promises15.stat)(path28)).size;
  } catch (e) {
    if (e.code === "ENOENT") return void 0;
    throw e;
  }
}
async function writeAtomic(path28, data) {
  const tmp = `${path28}.tmp-${process.pid}-${(0, import_node_crypto10.randomBytes)(4).toString("hex")}`;
  try {
    await (0, import_promises15.writeFile)(tmp, data);
    await (0, import_promises15.rename)(tmp, path28);
  } catch (e) {
    await (0, import_promises15.rm)(tmp, { force: true });
    throw e;
  }
}
async function readIndex(dir) {
  let text;
  try {
    text = await (0, import_promises15.readFile)((0, import_node_path12.join)(dir, "index.json"), "utf8");
  } catch (e) {
    const code = e.code;
    if (code === "ENOENT" || code === "ENOTDIR") return void 0;
    throw e;
  }
  try {
    const idx = JSON.parse(text);
    if (!Array.isArray(idx.manifests)) throw new Error("no manifests array");
    return idx;
  } catch (e) {
    throw new RemoteCacheError("E_CACHE_IMPORT", `${(0, import_node_path12.join)(dir, "index.json")} is not a valid OCI image index: ${e.message}`, { dir }, e);
  }
}
var LocalCacheWriter = class {
  constructor(dir, tag = "latest") {
    this.dir = dir;
    this.tag = tag;
    this.name = `${dir} (tag ${tag})`;
  }
  dir;
  tag;
  name;
  async putBlob(desc, store, signal) {
    const dest = blobPath(this.dir, desc.digest);
    if (await sizeOf(dest) === desc.size) return "exists";
    await (0, import_promises15.mkdir)((0, import_node_path12.join)(dest, ".."), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}-${(0, import_node_crypto10.randomBytes)(4).toString("hex")}`;
    try {
      await (0, import_promises16.pipeline)(store.get(desc.digest), (0, import_node_fs9.createWriteStream)(tmp, { mode: 420 }), { signal });
      await (0, import_promises15.rename)(tmp, dest);
    } catch (e) {
      await (0, import_promises15.rm)(tmp, { force: true });
      throw e;
    }
    return "uploaded";
  }
  async putManifest(bytes, desc, _signal) {
    await (0, import_promises15.mkdir)((0, import_node_path12.join)(this.dir, "blobs", "sha256"), { recursive: true });
    const mpath = blobPath(this.dir, desc.digest);
    if (await sizeOf(mpath) !== bytes.length) await writeAtomic(mpath, bytes);
    await writeAtomic((0, import_node_path12.join)(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    let index;
    try {
      index = await readIndex(this.dir) ?? { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    } catch {
      index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    }
    const kept = index.manifests.filter((m) => m.annotations?.[Annotation.RefName] !== this.tag);
    kept.push({
      mediaType: MediaType.OciManifest,
      digest: desc.digest,
      size: desc.size,
      artifactType: CACHE_ARTIFACT_TYPE,
      annotations: { [Annotation.RefName]: this.tag }
    });
    await writeAtomic((0, import_node_path12.join)(this.dir, "index.json"), JSON.stringify({ ...index, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: kept }));
    await this.collectGarbage(kept);
  }
  /** Removes blobs that no manifest in the index references (only when every manifest could be read). */
  async collectGarbage(manifests) {
    const live = /* @__PURE__ */ new Set();
    const visit = async (d) => {
      live.add(d.digest);
      if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest && !isIndexMediaType(d.mediaType)) return true;
      let parsed2;
      try {
        parsed2 = JSON.parse(await (0, import_promises15.readFile)(blobPath(this.dir, d.digest), "utf8"));
      } catch {
        return false;
      }
      if (isIndexMediaType(d.mediaType)) {
        for (const m of parsed2.manifests ?? []) if (!await visit(m)) return false;
      } else {
        if (parsed2.config) live.add(parsed2.config.digest);
        for (const l of parsed2.layers ?? []) live.add(l.digest);
      }
      return true;
    };
    for (const m of manifests) if (!await visit(m)) return;
    for (const alg of await (0, import_promises15.readdir)((0, import_node_path12.join)(this.dir, "blobs")).catch(() => [])) {
      for (const name of await (0, import_promises15.readdir)((0, import_node_path12.join)(this.dir, "blobs", alg)).catch(() => [])) {
        if (name.includes(".tmp-")) continue;
        if (!live.has(`${alg}:${name}`)) await (0, import_promises15.rm)((0, import_node_path12.join)(this.dir, "blobs", alg, name), { force: true });
      }
    }
  }
};
var LocalCacheReader = class {
  constructor(dir, select2 = {}) {
    this.dir = dir;
    this.select = select2;
    this.name = dir;
  }
  dir;
  select;
  name;
  async getManifest(_signal) {
    const index = await readIndex(this.dir);
    if (!index) return void 0;
    const { tag, digest } = this.select;
    let entry;
    if (digest) entry = index.manifests.find((m) => m.digest === digest);
    else {
      entry = index.manifests.find((m) => m.annotations?.[Annotation.RefName] === (tag ?? "latest"));
      if (!entry && !tag) {
        const ours = index.manifests.filter((m) => m.artifactType === CACHE_ARTIFACT_TYPE);
        if (ours.length === 1) entry = ours[0];
      }
    }
    if (!entry) return void 0;
    const bytes = await (0, import_promises15.readFile)(blobPath(this.dir, entry.digest)).catch((e) => {
      throw new RemoteCacheError("E_CACHE_IMPORT", `${this.dir}: manifest ${entry.digest} named in index.json is missing (${e.code})`, { dir: this.dir });
    });
    if (sha256Digest(bytes) !== entry.digest) {
      throw new RemoteCacheError("E_CACHE_CORRUPT", `${this.dir}: manifest blob ${entry.digest} does not match its digest`, { dir: this.dir });
    }
    return { bytes };
  }
  async fetchBlob(desc, store, signal) {
    if (await store.has(desc.digest)) return;
    const path28 = blobPath(this.dir, desc.digest);
    await store.put((0, import_node_fs10.createReadStream)(path28, { signal }), { expected: desc.digest, size: desc.size });
  }
};

// packages/builder/src/remote-cache/mounts.ts
var import_promises17 = require("node:fs/promises");
async function packCacheMounts(dirs, store, options = {}) {
  const mounts = [];
  const skipped = [];
  const seen = /* @__PURE__ */ new Set();
  for (const m of [...dirs].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) {
    if (seen.has(m.id)) {
      skipped.push({ kind: "mount", id: m.id, reason: "duplicate mount id; the first directory was exported" });
      continue;
    }
    seen.add(m.id);
    try {
      const st = await (0, import_promises17.stat)(m.dir);
      if (!st.isDirectory()) throw new Error(`${m.dir} is not a directory`);
      const layer = await writeLayerFromDirectory(m.dir, store, {
        // A cache dir is tool state, not an image: carry every extended attribute (overlay's own
        // excepted), since a tool may have set them and will expect them back.
        xattrs: "all",
        ...options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: options.sourceDateEpoch } : {}
      });
      mounts.push({ id: m.id, layer: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: layer.diffId } });
    } catch (e) {
      skipped.push({ kind: "mount", id: m.id, reason: errorMessage(e) });
    }
  }
  return { mounts, skipped };
}
async function restoreCacheMount(store, layer, dir) {
  await applyLayer(dir, store.get(layer.digest));
}

// packages/builder/src/registry/client.ts
var import_node_stream12 = require("node:stream");
var import_promises18 = require("node:stream/promises");

// packages/builder/src/registry/digest.ts
var import_node_crypto11 = require("node:crypto");
var import_node_stream10 = require("node:stream");
var ALGORITHMS2 = {
  sha256: { node: "sha256", hex: 64 },
  sha384: { node: "sha384", hex: 96 },
  sha512: { node: "sha512", hex: 128 }
};
function digestLike(like, data) {
  const algorithm = like.slice(0, like.indexOf(":"));
  const a = ALGORITHMS2[algorithm] ?? ALGORITHMS2.sha256;
  return `${ALGORITHMS2[algorithm] ? algorithm : "sha256"}:${(0, import_node_crypto11.createHash)(a.node).update(data).digest("hex")}`;
}
function isSupportedDigest(value) {
  if (typeof value !== "string") return false;
  const i = value.indexOf(":");
  const a = ALGORITHMS2[value.slice(0, i)];
  return !!a && new RegExp(`^[0-9a-f]{${a.hex}}$`).test(value.slice(i + 1));
}
function verifyingStream(digest, size, onMismatch) {
  const algorithm = digest.slice(0, digest.indexOf(":"));
  const hash = (0, import_node_crypto11.createHash)(ALGORITHMS2[algorithm]?.node ?? "sha256");
  let seen = 0;
  return new import_node_stream10.Transform({
    transform(chunk, _enc, cb) {
      seen += chunk.length;
      if (size !== void 0 && seen > size) return cb(onMismatch({ kind: "size", expected: size, actual: seen }));
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      if (size !== void 0 && seen !== size) return cb(onMismatch({ kind: "size", expected: size, actual: seen }));
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (actual !== digest) return cb(onMismatch({ kind: "digest", expected: digest, actual }));
      cb();
    }
  });
}

// packages/builder/src/registry/errors.ts
var RegistryError = class extends BuildError {
  name = "RegistryError";
  status;
  constructor(message, details, cause) {
    super("E_REGISTRY", message, { data: { ...details, status: details.status ?? 0 }, cause });
    this.status = details.status ?? 0;
  }
};

// packages/builder/src/registry/media-types.ts
var MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
  "*/*;q=0.8"
].join(", ");

// packages/parser/src/errors.ts
var DockerfileSyntaxError = class extends BuildError {
  name = "DockerfileSyntaxError";
  constructor(code, message, location, options = {}) {
    super(code, location ? `${location.file}:${location.line}:${location.column}: ${message}` : message, { ...options, location });
  }
};
var ShellExpansionError = class extends BuildError {
  name = "ShellExpansionError";
  constructor(message, options = {}) {
    super("E_EXPANSION", message, options);
  }
};

// packages/parser/src/syntax/gotext.ts
function isGoSpace(cp3) {
  if (cp3 <= 255) return cp3 === 32 || cp3 >= 9 && cp3 <= 13 || cp3 === 133 || cp3 === 160;
  return cp3 === 5760 || cp3 >= 8192 && cp3 <= 8202 || cp3 === 8232 || cp3 === 8233 || cp3 === 8239 || cp3 === 8287 || cp3 === 12288;
}
function codePointBefore(s, end) {
  const lo = s.charCodeAt(end - 1);
  if (lo >= 56320 && lo <= 57343 && end >= 2) {
    const hi = s.charCodeAt(end - 2);
    if (hi >= 55296 && hi <= 56319) return { cp: (hi - 55296) * 1024 + (lo - 56320) + 65536, width: 2 };
  }
  return { cp: lo, width: 1 };
}
function goSpaceEnd(s, from = 0) {
  let i = from;
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i;
}
function goTrimLeftSpace(s) {
  const i = goSpaceEnd(s);
  return i === 0 ? s : s.slice(i);
}
function goTrimSpace(s) {
  const start2 = goSpaceEnd(s);
  let end = s.length;
  while (end > start2) {
    const { cp: cp3, width } = codePointBefore(s, end);
    if (!isGoSpace(cp3)) break;
    end -= width;
  }
  return start2 === 0 && end === s.length ? s : s.slice(start2, end);
}
function goToLower(s) {
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = "";
  for (const ch of s) {
    if (ch === "\u0130") {
      out += "i";
      continue;
    }
    const lower = ch.toLowerCase();
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}
var PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
var HEX = "0123456789abcdef";
function hex(n, width) {
  let s = "";
  for (let i = width - 1; i >= 0; i--) s += HEX[n >> i * 4 & 15];
  return s;
}
function goIsPrint(cp3) {
  if (cp3 < 128) return cp3 >= 32 && cp3 < 127;
  return PRINTABLE.test(String.fromCodePoint(cp3));
}
function goQuote(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) {
      if (c === 34) out += '\\"';
      else if (c === 92) out += "\\\\";
      else if (c >= 32 && c < 127) out += s[i];
      else if (c === 7) out += "\\a";
      else if (c === 8) out += "\\b";
      else if (c === 12) out += "\\f";
      else if (c === 10) out += "\\n";
      else if (c === 13) out += "\\r";
      else if (c === 9) out += "\\t";
      else if (c === 11) out += "\\v";
      else out += "\\x" + hex(c, 2);
      continue;
    }
    let cp3 = c;
    if (c >= 55296 && c <= 56319 && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 56320 && lo <= 57343) {
        cp3 = (c - 55296) * 1024 + (lo - 56320) + 65536;
        i++;
      }
    }
    if (cp3 >= 56448 && cp3 <= 56575) {
      out += "\\x" + hex(cp3 & 255, 2);
    } else if (cp3 >= 55296 && cp3 <= 57343) {
      out += "\\x" + hex(224 | cp3 >> 12, 2) + "\\x" + hex(128 | cp3 >> 6 & 63, 2) + "\\x" + hex(128 | cp3 & 63, 2);
    } else if (goIsPrint(cp3)) {
      out += String.fromCodePoint(cp3);
    } else if (cp3 < 65536) {
      out += "\\u" + hex(cp3, 4);
    } else {
      out += "\\U" + hex(cp3, 8);
    }
  }
  return out + '"';
}
function goQuoteList(items) {
  return "[" + items.map(goQuote).join(" ") + "]";
}
function toWellFormed(s) {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) continue;
    if (c < 2048) n += 1;
    else if (c >= 55296 && c <= 56319 && i + 1 < s.length && (s.charCodeAt(i + 1) & 64512) === 56320) {
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}
function decodeUtf8(bytes) {
  let out = "";
  let i = 0;
  const n = bytes.length;
  const cont = (k) => k < n && (bytes[k] & 192) === 128;
  while (i < n) {
    const b = bytes[i];
    if (b < 128) {
      let j = i + 1;
      while (j < n && bytes[j] < 128) j++;
      out += String.fromCharCode(...bytes.subarray(i, Math.min(j, i + 4096)));
      i = Math.min(j, i + 4096);
      continue;
    }
    let cp3 = -1;
    let len = 0;
    if (b >= 194 && b <= 223 && cont(i + 1)) {
      cp3 = (b & 31) << 6 | bytes[i + 1] & 63;
      len = 2;
    } else if (b >= 224 && b <= 239 && cont(i + 1) && cont(i + 2)) {
      const b1 = bytes[i + 1];
      const ok = (b !== 224 || b1 >= 160) && (b !== 237 || b1 < 160);
      if (ok) {
        cp3 = (b & 15) << 12 | (b1 & 63) << 6 | bytes[i + 2] & 63;
        len = 3;
      }
    } else if (b >= 240 && b <= 244 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const b1 = bytes[i + 1];
      const ok = (b !== 240 || b1 >= 144) && (b !== 244 || b1 < 144);
      if (ok) {
        cp3 = (b & 7) << 18 | (b1 & 63) << 12 | (bytes[i + 2] & 63) << 6 | bytes[i + 3] & 63;
        len = 4;
      }
    }
    if (cp3 < 0) {
      out += String.fromCharCode(56320 + b);
      i++;
    } else {
      out += String.fromCodePoint(cp3);
      i += len;
    }
  }
  return out;
}
var textEncoder = new TextEncoder();
function encodeUtf8(s) {
  if (!/[\uDC80-\uDCFF]/.test(s)) return textEncoder.encode(s);
  const parts = [];
  let start2 = 0;
  const flush = (end) => {
    if (end > start2) for (const b of textEncoder.encode(s.slice(start2, end))) parts.push(b);
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 56448 && c <= 56575 && !(i > 0 && (s.charCodeAt(i - 1) & 64512) === 55296)) {
      flush(i);
      parts.push(c & 255);
      start2 = i + 1;
    }
  }
  flush(s.length);
  return Uint8Array.from(parts);
}

// packages/parser/src/syntax/json-array.ts
var MAX_DEPTH = 1e4;
function tooDeep(s) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}
function hasOverflow(root) {
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return true;
    } else if (v !== null && typeof v === "object") {
      for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push(x);
    }
  }
  return false;
}
function parseJsonArray(rest) {
  const text = goTrimLeftSpace(rest);
  if (!text.startsWith("[")) return { kind: "not-json" };
  if (!/\]\s*$/.test(text)) return { kind: "not-json" };
  if (text.length > MAX_DEPTH && tooDeep(text)) return { kind: "not-json" };
  let parsed2;
  try {
    parsed2 = JSON.parse(text);
  } catch {
    return { kind: "not-json" };
  }
  if (!Array.isArray(parsed2)) return { kind: "not-json" };
  if (parsed2.some((v) => typeof v !== "string") && hasOverflow(parsed2)) return { kind: "not-json" };
  const values = [];
  for (const v of parsed2) {
    if (typeof v !== "string") return { kind: "not-strings" };
    values.push(toWellFormed(v));
  }
  return { kind: "strings", values };
}

// packages/parser/src/syntax/words.ts
var RE_WHITESPACE = /[\t\v\f\r ]+/;
var SPACES = 0;
var WORD = 1;
var QUOTE = 2;
var RE_WHITESPACE_G = /[\t\v\f\r ]+/g;
function splitWhitespace(s) {
  return s.split(RE_WHITESPACE_G);
}
function splitWhitespaceOnce(s) {
  const m = RE_WHITESPACE.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}
function parseWords(rest, escapeToken) {
  const words = [];
  let phase = SPACES;
  let quote = "";
  let blankOK = false;
  let word = "";
  const n = rest.length;
  for (let pos = 0; pos <= n; pos++) {
    const ch = pos < n ? rest[pos] : "";
    if (phase === SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch.charCodeAt(0))) continue;
      phase = WORD;
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === WORD) {
      if (isGoSpace(ch.charCodeAt(0))) {
        phase = SPACES;
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) continue;
        word += ch;
        pos++;
        word += rest[pos];
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = WORD;
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      word += ch;
      pos++;
      word += rest[pos];
      continue;
    }
    word += ch;
  }
  return words;
}
function isSpaceByte(b) {
  return b === 32 || b >= 9 && b <= 13 || b === 133 || b === 160;
}
function extractBuilderFlags(line, escapeToken) {
  const flags = [];
  const first = line.search(/[^\t\n\v\f\r ]/);
  if (first < 0) return { rest: "", flags };
  if (!line.startsWith("--", first)) return { rest: line.slice(first), flags };
  const bytes = encodeUtf8(line);
  const esc = escapeToken.charCodeAt(0);
  const n = bytes.length;
  let phase = SPACES;
  let word = "";
  let quote = 0;
  let blankOK = false;
  const restFrom = (pos) => decodeUtf8(bytes.subarray(pos));
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? bytes[pos] : 0;
    if (phase === SPACES) {
      if (pos === n) break;
      if (isSpaceByte(ch)) continue;
      if (ch !== 45 || pos + 1 === n || bytes[pos + 1] !== 45) return { rest: restFrom(pos), flags };
      phase = WORD;
    }
    if (pos === n) {
      if (word !== "--" && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === WORD) {
      if (isSpaceByte(ch)) {
        phase = SPACES;
        if (word === "--") return { rest: restFrom(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === 39 || ch === 34) {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
        continue;
      }
      if (ch === esc) {
        if (pos + 1 === n) continue;
        pos++;
        ch = bytes[pos];
      }
      word += String.fromCharCode(ch);
      continue;
    }
    if (ch === quote) {
      phase = WORD;
      continue;
    }
    if (ch === esc) {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      pos++;
      ch = bytes[pos];
    }
    word += String.fromCharCode(ch);
  }
  return { rest: "", flags };
}
function splitCommand(line, escapeToken) {
  const parts = splitWhitespaceOnce(goTrimSpace(line));
  if (parts.length === 1) return { cmd: parts[0], flags: [], args: "" };
  const { rest, flags } = extractBuilderFlags(parts[1], escapeToken);
  return { cmd: parts[0], flags, args: goTrimSpace(rest) };
}

// packages/parser/src/syntax/dispatch.ts
var LineParseError = class extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  code;
};
var SHELL = { args: [], json: false };
function notStringsError() {
  return new LineParseError("E_JSON_ARRAY", "when using JSON array syntax, arrays must be comprised of strings only");
}
function parseMaybeJson(rest) {
  if (rest === "") return SHELL;
  const j = parseJsonArray(rest);
  if (j.kind === "strings") return { args: j.values, json: true };
  if (j.kind === "not-strings") throw notStringsError();
  return { args: [rest], json: false };
}
function parseStringsWhitespaceDelimited(rest) {
  if (rest === "") return SHELL;
  return { args: splitWhitespace(rest), json: false };
}
function parseMaybeJsonToList(rest) {
  const j = parseJsonArray(rest);
  if (j.kind === "strings") return { args: j.values, json: true };
  if (j.kind === "not-strings") throw notStringsError();
  return parseStringsWhitespaceDelimited(rest);
}
function parseString(rest) {
  return rest === "" ? SHELL : { args: [rest], json: false };
}
function parseNameVal(rest, key, escapeToken) {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return SHELL;
  if (!words[0].includes("=")) {
    const parts = splitWhitespaceOnce(rest);
    if (parts.length < 2) throw new LineParseError("E_ARGUMENTS", `${key} must have two arguments`);
    return { args: [parts[0], parts[1], ""], json: false };
  }
  const args = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) throw new LineParseError("E_ARGUMENTS", `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    args.push(word.slice(0, eq), word.slice(eq + 1), "=");
  }
  return { args, json: false };
}
function parseHealthConfig(rest) {
  let typ;
  let tail;
  const ascii = /^[\x00-\x7f]*$/.test(rest);
  if (ascii) {
    const m = /[\t\n\v\f\r ]/.exec(rest);
    const sep = m ? m.index : rest.length;
    let next = sep;
    while (next < rest.length && /[\t\n\v\f\r ]/.test(rest[next])) next++;
    if (sep === 0) return SHELL;
    typ = rest.slice(0, sep);
    tail = rest.slice(next);
  } else {
    const b = encodeUtf8(rest);
    const isSpace2 = (x) => x === 32 || x >= 9 && x <= 13 || x === 133 || x === 160;
    let sepByte = 0;
    while (sepByte < b.length && !isSpace2(b[sepByte])) sepByte++;
    let nextByte = sepByte;
    while (nextByte < b.length && isSpace2(b[nextByte])) nextByte++;
    if (sepByte === 0) return SHELL;
    typ = decodeUtf8(b.subarray(0, sepByte));
    tail = decodeUtf8(b.subarray(nextByte));
  }
  const cmd = parseMaybeJson(tail);
  return { args: [typ, ...cmd.args], json: cmd.json };
}
function dispatch(keyword, rest, escapeToken) {
  switch (keyword) {
    case "add":
    case "copy":
    case "volume":
      return parseMaybeJsonToList(rest);
    case "arg":
      return { args: parseWords(rest, escapeToken), json: false };
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      return parseMaybeJson(rest);
    case "env":
      return parseNameVal(rest, "ENV", escapeToken);
    case "label":
      return parseNameVal(rest, "LABEL", escapeToken);
    case "expose":
    case "from":
      return parseStringsWhitespaceDelimited(rest);
    case "healthcheck":
      return parseHealthConfig(rest);
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      return parseString(rest);
    default:
      return { args: [""], json: false };
  }
}
function partsFromLine(line, escapeToken) {
  const chain2 = [];
  let current = line;
  for (; ; ) {
    const { cmd, flags, args: rest } = splitCommand(current, escapeToken);
    const keyword = goToLower(cmd);
    const parts = { keyword, keywordText: cmd, flags, args: [], json: false, original: current };
    chain2.push({ parts, rest });
    if (keyword !== "onbuild") {
      const split = dispatch(keyword, rest, escapeToken);
      parts.args = split.args;
      parts.json = split.json;
      break;
    }
    if (rest === "") break;
    current = rest;
  }
  for (let i = chain2.length - 2; i >= 0; i--) chain2[i].parts.sub = chain2[i + 1].parts;
  return chain2[0].parts;
}

// packages/parser/src/syntax/directives.ts
var VALID = /* @__PURE__ */ new Set(["syntax", "escape", "check"]);
function isReSpace(c) {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}
function matchDirective(s) {
  let i = 0;
  const isAlpha = (c) => c >= 65 && c <= 90 || c >= 97 && c <= 122;
  if (!isAlpha(s.charCodeAt(0))) return void 0;
  i = 1;
  while (i < s.length && (isAlpha(s.charCodeAt(i)) || s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57)) i++;
  const key = s.slice(0, i);
  while (i < s.length && isReSpace(s.charCodeAt(i))) i++;
  if (s[i] !== "=") return void 0;
  i++;
  const valueArea = s.slice(i);
  if (valueArea.length === 0) return void 0;
  let start2 = 0;
  while (start2 < valueArea.length && isReSpace(valueArea.charCodeAt(start2))) start2++;
  if (start2 === valueArea.length) return { key, value: valueArea.slice(-1) };
  let end = valueArea.length;
  while (end > start2 && isReSpace(valueArea.charCodeAt(end - 1))) end--;
  return { key, value: valueArea.slice(start2, end) };
}
var DirectiveReader = class {
  directives = [];
  done = false;
  escapeToken = "\\";
  /**
   * Looks at one line (newline and leading whitespace already removed).
   *
   * @returns true if the line was a directive.
   * @throws LineParseError for a repeated directive or a bad escape token.
   */
  readLine(line, lineNumber) {
    if (this.done) return false;
    if (!line.startsWith("#")) {
      this.done = true;
      return false;
    }
    let i = 1;
    while (i < line.length && /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(line[i])) i++;
    const m = matchDirective(line.slice(i));
    const name = m?.key.toLowerCase();
    if (!m || !name || !VALID.has(name)) {
      this.done = true;
      return false;
    }
    if (this.directives.some((d) => d.name === name)) {
      throw new LineParseError("E_DIRECTIVE", `only one ${name} parser directive can be used`);
    }
    const directive = { name, value: m.value, line: lineNumber };
    this.directives.push(directive);
    if (name === "escape") {
      if (m.value !== "`" && m.value !== "\\") {
        throw new LineParseError("E_DIRECTIVE", `invalid escape token '${m.value}' does not match \` or \\`);
      }
      this.escapeToken = m.value;
    }
    return true;
  }
};

// packages/parser/src/syntax/heredoc.ts
var EOF = -1;
var MAX_NESTING = 1e3;
var HeredocWordError = class extends Error {
};
function isDigitCp(cp3) {
  if (cp3 >= 48 && cp3 <= 57) return true;
  return cp3 > 127 && new RegExp("^\\p{Nd}$", "u").test(String.fromCodePoint(cp3));
}
function isLetterCp(cp3) {
  if (cp3 < 128) return cp3 >= 65 && cp3 <= 90 || cp3 >= 97 && cp3 <= 122;
  return new RegExp("^\\p{L}$", "u").test(String.fromCodePoint(cp3));
}
function isSpecialParam(cp3) {
  return cp3 === 64 || cp3 === 42 || cp3 === 35 || cp3 === 63 || cp3 === 45 || cp3 === 36 || cp3 === 33 || cp3 === 48;
}
var WordLexer = class {
  constructor(src, mode) {
    this.mode = mode;
    this.cps = Array.from(src, (c) => c.codePointAt(0));
    if (this.cps[0] === 65279) this.pos = 1;
    this.rawEscapes = mode.rawEscapes;
  }
  mode;
  cps;
  pos = 0;
  rawEscapes;
  /** Nesting of `${…}` scans; bounded so a hostile line cannot exhaust the stack. */
  depth = 0;
  /** BuildKit shares one word buffer between nested scans; an inner `${x:-…}` scan resets it. */
  buffer = "";
  peek() {
    return this.pos < this.cps.length ? this.cps[this.pos] : EOF;
  }
  next() {
    return this.pos < this.cps.length ? this.cps[this.pos++] : EOF;
  }
  words() {
    return this.processStopOn(EOF, this.mode.rawEscapes).words;
  }
  processStopOn(stopChar, rawEscapes) {
    if (++this.depth > MAX_NESTING) throw new HeredocWordError("substitutions nested too deeply");
    let result = "";
    this.buffer = "";
    const w = new Words(this);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return { result, words: w.getWords() };
        }
        if (ch === 36) {
          const tmp = this.processDollar();
          result += tmp;
          w.addString(tmp);
        } else if (ch === 60) {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          w.addRawString(tmp);
        } else if (ch === 39) {
          const tmp = this.processSingleQuote();
          result += tmp;
          w.addRawString(tmp);
        } else if (ch === 34) {
          const tmp = this.processDoubleQuote();
          result += tmp;
          w.addRawString(tmp);
        } else {
          ch = this.next();
          if (ch === 92) {
            if (this.rawEscapes) {
              w.addRawChar(ch);
              result += "\\";
            }
            ch = this.next();
            if (ch === EOF) break;
            w.addRawChar(ch);
          } else {
            w.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stopChar !== EOF) throw new HeredocWordError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stopChar)}`);
      return { result, words: w.getWords() };
    } finally {
      this.rawEscapes = saved;
      this.depth--;
    }
  }
  processSingleQuote() {
    let result = "";
    let ch = this.next();
    if (this.mode.rawQuotes) result += String.fromCodePoint(ch);
    for (; ; ) {
      ch = this.next();
      if (ch === EOF) throw new HeredocWordError("unexpected end of statement while looking for matching single-quote");
      if (ch === 39) {
        if (this.mode.rawQuotes) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }
  processDoubleQuote() {
    let result = "";
    const open6 = this.next();
    if (this.mode.rawQuotes) result += String.fromCodePoint(open6);
    for (; ; ) {
      const p = this.peek();
      if (p === EOF) throw new HeredocWordError("unexpected end of statement while looking for matching double-quote");
      if (p === 34) {
        this.next();
        if (this.mode.rawQuotes) result += '"';
        return result;
      }
      if (p === 36) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === 92) {
        if (this.rawEscapes) result += "\\";
        const q = this.peek();
        if (q === EOF) continue;
        if (q === 34 || q === 36 || q === 92) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }
  /** `$name`, `${name}`, `${name<op>word}`: with every variable unset, the text is kept. */
  processDollar() {
    this.next();
    if (this.peek() !== 123) {
      const name2 = this.processName();
      return name2 === "" ? "$" : "$" + name2;
    }
    this.next();
    const p = this.peek();
    if (p === EOF) throw new HeredocWordError("syntax error: missing '}'");
    if (p === 123 || p === 125 || p === 58) throw new HeredocWordError("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.next();
    const str = (c) => c === EOF ? "\uFFFD" : String.fromCodePoint(c);
    let chs = str(ch);
    let nullIsUnset = false;
    if (ch === 125) return "${" + name + "}";
    if (ch === 58) {
      nullIsUnset = true;
      ch = this.next();
      chs += str(ch);
    }
    if (nullIsUnset || ch === 43 || ch === 45 || ch === 63 || ch === 35 || ch === 37) {
      const rawEsc = ch === 35 || ch === 37;
      if (nullIsUnset && rawEsc) throw new HeredocWordError(`unsupported modifier (${chs}) in substitution`);
      const word = this.stopOnOrMissing(125, rawEsc, "syntax error: missing '}'");
      return "${" + name + chs + word + "}";
    }
    if (ch === 47) {
      if (this.peek() === 47) this.next();
      const pattern = this.stopOnOrMissing(47, true, "syntax error: missing '/' in ${}");
      const replacement = this.stopOnOrMissing(125, true, "syntax error: missing '}'");
      return "${" + name + "/" + pattern + "/" + replacement + "}";
    }
    throw new HeredocWordError(`unsupported modifier (${chs}) in substitution`);
  }
  stopOnOrMissing(stop, rawEscapes, missing) {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (e) {
      if (this.peek() === EOF) throw new HeredocWordError(missing);
      throw e;
    }
  }
  processName() {
    let name = "";
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === "" && isDigitCp(ch)) {
        while (this.peek() !== EOF && isDigitCp(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name === "" && isSpecialParam(ch)) {
        this.next();
        return String.fromCodePoint(ch);
      }
      if (!isLetterCp(ch) && !isDigitCp(ch) && ch !== 95) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }
  /** `<<` keeps the blanks that follow it in the same word (`<<  EOF` is one word). */
  processPossibleHeredoc() {
    this.next();
    if (this.peek() !== 60) return "<";
    this.next();
    let spaces = "";
    for (let c = this.peek(); c === 9 || c === 13 || c === 32; c = this.peek()) {
      spaces += String.fromCodePoint(this.next());
    }
    return "<<" + spaces;
  }
};
var Words = class {
  constructor(lx) {
    this.lx = lx;
  }
  lx;
  words = [];
  inWord = false;
  addChar(cp3) {
    if (isGoSpace(cp3)) {
      if (this.inWord && this.lx.buffer.length !== 0) {
        this.words.push(this.lx.buffer);
        this.lx.buffer = "";
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp3);
    }
  }
  addRawChar(cp3) {
    this.lx.buffer += String.fromCodePoint(cp3);
    this.inWord = true;
  }
  addString(s) {
    for (const c of s) this.addChar(c.codePointAt(0));
  }
  addRawString(s) {
    this.lx.buffer += s;
    this.inWord = true;
  }
  getWords() {
    if (this.lx.buffer.length > 0) {
      this.words.push(this.lx.buffer);
      this.lx.buffer = "";
      this.inWord = false;
    }
    return this.words;
  }
};
function lexWords(src, mode) {
  return new WordLexer(src, mode).words();
}
function isReSpace2(c) {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}
function countQuotes(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 39) n++;
  }
  return n;
}
function parseHeredocWord(word) {
  let i = 0;
  while (i < word.length && word.charCodeAt(i) >= 48 && word.charCodeAt(i) <= 57) i++;
  const digits = word.slice(0, i);
  if (!word.startsWith("<<", i)) return void 0;
  i += 2;
  const chomp = word[i] === "-";
  if (chomp) i++;
  while (i < word.length && isReSpace2(word.charCodeAt(i))) i++;
  const rest = word.slice(i);
  if (rest.includes("<") || rest === "") return void 0;
  let words;
  let wordsRaw;
  try {
    words = lexWords(rest, { rawQuotes: false, rawEscapes: false });
    if (words.length !== 1) return void 0;
    wordsRaw = lexWords(rest, { rawQuotes: true, rawEscapes: false });
  } catch (e) {
    if (e instanceof HeredocWordError) throw new HeredocWordError(`failed to process ${goQuote(rest)}: ${e.message}`);
    throw e;
  }
  if (wordsRaw.length !== words.length) throw new HeredocWordError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const name = words[0];
  const expand = countQuotes(name) === countQuotes(wordsRaw[0]);
  const fd = digits === "" ? 0 : Math.min(Number(digits), 18446744073709552e3);
  return { name, fileDescriptor: fd, expand, chomp, word };
}
function heredocsFromLine(line) {
  let words;
  try {
    words = lexWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (e) {
    if (e instanceof HeredocWordError) return [];
    throw e;
  }
  const docs = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) docs.push(h);
  }
  return docs;
}

// packages/parser/src/syntax/parse.ts
var MAX_LINE_BYTES = 64 * 1024;
function splitLines(text) {
  const raw = [];
  let start2 = 0;
  while (start2 < text.length) {
    const nl2 = text.indexOf("\n", start2);
    const end = nl2 < 0 ? text.length : nl2 + 1;
    const line = text.slice(start2, end);
    const limit = nl2 < 0 ? MAX_LINE_BYTES - 1 : MAX_LINE_BYTES;
    if (line.length > limit / 3 && utf8Length(line) > limit) return { raw, tooLongAt: raw.length + 1 };
    raw.push(line);
    start2 = end;
  }
  return { raw };
}
function trimNewline(s) {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 10 || s.charCodeAt(end - 1) === 13)) end--;
  return end === s.length ? s : s.slice(0, end);
}
function isComment(s) {
  const i = goSpaceEnd(s);
  return i < s.length && s.charCodeAt(i) === 35;
}
function trimContinuation(line, escapeToken) {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--;
  if (end === 0 || line[end - 1] !== escapeToken) return { text: line, ends: true };
  if (end === 1) return { text: "", ends: false };
  if (line[end - 2] === escapeToken) return { text: line, ends: true };
  return { text: line.slice(0, end - 1), ends: false };
}
function toNode(parts, range, heredocs, comments) {
  const node = {
    keyword: parts.keyword,
    keywordText: parts.keywordText,
    flags: parts.flags,
    args: parts.args,
    json: parts.json,
    heredocs,
    original: parts.original,
    range: { ...range },
    comments
  };
  let outer = node;
  for (let p = parts.sub; p; p = p.sub) {
    const sub = {
      keyword: p.keyword,
      keywordText: p.keywordText,
      flags: p.flags,
      args: p.args,
      json: p.json,
      heredocs: [],
      original: p.original,
      range: { ...range },
      comments: []
    };
    outer.sub = sub;
    outer = sub;
  }
  return node;
}
function canContainHeredoc(parts) {
  const p = parts.keyword === "onbuild" && parts.sub ? parts.sub : parts;
  return (p.keyword === "run" || p.keyword === "copy" || p.keyword === "add") && !p.json;
}
var HINTS = {
  E_EMPTY_DOCKERFILE: "add at least a FROM instruction",
  E_HEREDOC_UNTERMINATED: "end the heredoc body with a line that holds only its terminator word",
  E_JSON_ARRAY: 'write every element as a "string", or use the shell form'
};
function parseDockerfile(text, options = {}) {
  const file2 = options.file ?? "Dockerfile";
  const source = text;
  const input = toWellFormed(text);
  const { raw, tooLongAt } = splitLines(input);
  const shown = (lineNumber) => {
    const s = trimNewline(raw[lineNumber - 1] ?? "");
    return lineNumber === 1 && s.startsWith("\uFEFF") ? s.slice(1) : s;
  };
  const startColumnOf = (lineNumber) => goSpaceEnd(shown(lineNumber)) + 1;
  const endColumnOf = (lineNumber) => Math.max(1, shown(lineNumber).length);
  const fail2 = (code, reason, loc) => {
    const hint = HINTS[code];
    throw new DockerfileSyntaxError(code, hint ? `${reason} (${hint})` : reason, { file: file2, ...loc }, { source, data: { reason } });
  };
  const directives = new DirectiveReader();
  const children = [];
  const warnings = [];
  let comments = [];
  let currentLine = 0;
  let i = 0;
  const processLine = (rawLine, stripLeft, lineNumber) => {
    let s = trimNewline(rawLine);
    if (stripLeft) s = s.slice(goSpaceEnd(s));
    let directive = false;
    try {
      directive = directives.readLine(s, lineNumber);
    } catch (e) {
      if (e instanceof LineParseError) fail2(e.code, e.message, { line: lineNumber, column: 1, endLine: lineNumber, endColumn: endColumnOf(lineNumber) });
      throw e;
    }
    return { text: isComment(s) ? "" : s, directive };
  };
  while (i < raw.length) {
    let bytesRead = raw[i++];
    if (currentLine === 0 && bytesRead.startsWith("\uFEFF")) bytesRead = bytesRead.slice(1);
    if (isComment(bytesRead)) {
      const comment = goTrimSpace(bytesRead.slice(1));
      if (comment === "") comments = [];
      else comments.push(comment);
    }
    const first = processLine(bytesRead, true, currentLine + 1);
    if (first.directive) comments.pop();
    currentLine++;
    const startLine = currentLine;
    let { text: text2, ends } = trimContinuation(first.text, directives.escapeToken);
    if (ends && text2.length === 0) continue;
    const firstPieceLength = text2.length;
    let line = text2;
    let hasEmptyContinuationLine = false;
    while (!ends && i < raw.length) {
      const rawLine = raw[i++];
      const next = processLine(rawLine, false, currentLine + 1);
      currentLine++;
      if (isComment(rawLine)) continue;
      if (goSpaceEnd(next.text) === next.text.length) {
        hasEmptyContinuationLine = true;
        continue;
      }
      ({ text: text2, ends } = trimContinuation(next.text, directives.escapeToken));
      line += text2;
    }
    if (hasEmptyContinuationLine) warnings.push({ message: `Empty continuation line found in: ${line}`, line: currentLine });
    const span = { startLine, startColumn: startColumnOf(startLine), endLine: currentLine, endColumn: endColumnOf(currentLine) };
    const spanLoc = () => ({ line: span.startLine, column: span.startColumn, endLine: span.endLine, endColumn: span.endColumn });
    let parts;
    try {
      parts = partsFromLine(line, directives.escapeToken);
    } catch (e) {
      if (e instanceof LineParseError) fail2(e.code, e.message, spanLoc());
      throw e;
    }
    const heredocs = [];
    if (canContainHeredoc(parts) && line.includes("<<")) {
      let starts;
      try {
        starts = heredocsFromLine(line);
      } catch (e) {
        if (e instanceof HeredocWordError) fail2("E_EXPANSION", e.message, spanLoc());
        throw e;
      }
      let searchFrom = 0;
      for (const h of starts) {
        let terminated = false;
        let content = "";
        while (i < raw.length) {
          const body = raw[i++];
          currentLine++;
          let candidate = trimNewline(body);
          if (h.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        const at = line.indexOf(h.word, searchFrom);
        if (at >= 0) searchFrom = at + h.word.length;
        if (!terminated) {
          const column = at >= 0 && at + h.word.length <= firstPieceLength ? span.startColumn + at : span.startColumn;
          fail2("E_HEREDOC_UNTERMINATED", "unterminated heredoc", { line: startLine, column, endLine: Math.max(currentLine, startLine), endColumn: endColumnOf(Math.max(currentLine, startLine)) });
        }
        heredocs.push({ name: h.name, fileDescriptor: h.fileDescriptor, expand: h.expand, chomp: h.chomp, content });
      }
      span.endLine = currentLine;
      span.endColumn = endColumnOf(currentLine);
    }
    children.push(toNode(parts, span, heredocs, comments));
    comments = [];
  }
  if (children.length === 0) {
    const line = Math.max(1, currentLine);
    fail2("E_EMPTY_DOCKERFILE", "file with no instructions", { line, column: 1, endLine: line, endColumn: endColumnOf(line) });
  }
  if (tooLongAt !== void 0) {
    fail2("E_LINE_TOO_LONG", `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, { line: tooLongAt, column: 1, endLine: tooLongAt, endColumn: 1 });
  }
  const firstChild = children[0];
  const lastChild = children[children.length - 1];
  return {
    file: file2,
    escapeToken: directives.escapeToken,
    directives: directives.directives,
    children,
    warnings,
    range: { startLine: firstChild.range.startLine, startColumn: firstChild.range.startColumn, endLine: lastChild.range.endLine, endColumn: lastChild.range.endColumn }
  };
}

// packages/parser/src/shell/scanner.ts
var EOF2 = -1;
var RuneScanner = class {
  src;
  pos = 0;
  /** The peeked code point; -2 before the first read (so the BOM check runs once). */
  ch = -2;
  constructor(src) {
    this.src = src;
  }
  /** The next code point without consuming it, or {@link EOF}. */
  peek() {
    if (this.ch === -2) {
      this.ch = this.read();
      if (this.ch === 65279) this.ch = this.read();
    }
    return this.ch;
  }
  /** Consumes and returns the next code point, or {@link EOF}. */
  next() {
    const ch = this.peek();
    if (ch !== EOF2) this.ch = this.read();
    return ch;
  }
  read() {
    if (this.pos >= this.src.length) return EOF2;
    const cp3 = this.src.codePointAt(this.pos);
    this.pos += cp3 > 65535 ? 2 : 1;
    return cp3;
  }
};
function runeString(ch) {
  return ch < 0 ? "\uFFFD" : String.fromCodePoint(ch);
}

// packages/parser/src/shell/unicode.ts
var LETTER = new RegExp("^\\p{L}$", "u");
var DECIMAL_DIGIT = new RegExp("^\\p{Nd}$", "u");
function isLetter(ch) {
  if (ch < 128) return ch >= 65 && ch <= 90 || ch >= 97 && ch <= 122;
  return LETTER.test(String.fromCodePoint(ch));
}
function isDigit(ch) {
  if (ch < 128) return ch >= 48 && ch <= 57;
  return DECIMAL_DIGIT.test(String.fromCodePoint(ch));
}
function isSpace(ch) {
  switch (ch) {
    case 9:
    case 10:
    case 11:
    case 12:
    case 13:
    case 32:
    case 133:
    case 160:
    case 5760:
    case 8232:
    case 8233:
    case 8239:
    case 8287:
    case 12288:
      return true;
    default:
      return ch >= 8192 && ch <= 8202;
  }
}

// packages/parser/src/shell/pattern.ts
var PatternError = class extends Error {
};
var ANY = -1;
var STAR = -2;
var NEWLINE = 10;
function compileShellPattern(pattern, greedy) {
  const ops = [];
  const s = new RuneScanner(pattern);
  for (let tok = s.next(); tok !== EOF2; tok = s.next()) {
    if (tok === 42) {
      if (ops[ops.length - 1] !== STAR) ops.push(STAR);
    } else if (tok === 63) {
      ops.push(ANY);
    } else if (tok === 92) {
      const after = s.peek();
      if (after === 125 || after === 47) continue;
      tok = s.next();
      if (tok !== 42 && tok !== 63 && tok !== 92) throw new PatternError(`invalid escape '\\${runeString(tok)}'`);
      ops.push(tok);
    } else {
      ops.push(tok);
    }
  }
  return { ops: Int32Array.from(ops), greedy };
}
var ThreadList = class {
  pcs;
  starts;
  marks;
  count = 0;
  stamp = 1;
  constructor(size) {
    this.pcs = new Int32Array(size);
    this.starts = new Int32Array(size);
    this.marks = new Int32Array(size);
  }
  clear() {
    this.count = 0;
    this.stamp++;
  }
  push(pc, start2) {
    this.pcs[this.count] = pc;
    this.starts[this.count] = start2;
    this.count++;
  }
};
function addThread(p, list, pc, start2) {
  const { ops } = p;
  const end = ops.length;
  let j = pc;
  for (; ; ) {
    if (list.marks[j] === list.stamp) break;
    list.marks[j] = list.stamp;
    if (j < end && ops[j] === STAR) {
      if (p.greedy) list.push(j, start2);
      j++;
      continue;
    }
    list.push(j, start2);
    break;
  }
  if (!p.greedy) {
    for (let k = j - 1; k >= pc; k--) if (ops[k] === STAR) list.push(k, start2);
  }
}
function findMatch(p, text, from, anchored) {
  const size = p.ops.length + 1;
  const match = p.ops.length;
  let clist = new ThreadList(size);
  let nlist = new ThreadList(size);
  let found;
  let pos = from;
  for (; ; ) {
    if (clist.count === 0 && (found !== void 0 || anchored && pos !== from)) break;
    if (found === void 0 && (!anchored || pos === from)) addThread(p, clist, 0, pos);
    const cp3 = pos < text.length ? text.codePointAt(pos) : EOF2;
    const width = cp3 > 65535 ? 2 : 1;
    nlist.clear();
    for (let i = 0; i < clist.count; i++) {
      const pc = clist.pcs[i];
      const start2 = clist.starts[i];
      if (pc === match) {
        found = [start2, pos];
        break;
      }
      if (cp3 === EOF2) continue;
      const op = p.ops[pc];
      if (op === STAR) {
        if (cp3 !== NEWLINE) addThread(p, nlist, pc, start2);
      } else if (op === ANY ? cp3 !== NEWLINE : cp3 === op) {
        addThread(p, nlist, pc + 1, start2);
      }
    }
    if (cp3 === EOF2) break;
    pos += width;
    [clist, nlist] = [nlist, clist];
  }
  return found;
}
function invalidPattern(pattern, err) {
  if (err instanceof PatternError) throw new PatternError(`invalid pattern (${pattern}) in substitution: ${err.message}`);
  throw err;
}
function trimPrefix(pattern, value, greedy) {
  let p;
  try {
    p = compileShellPattern(pattern, greedy);
  } catch (err) {
    invalidPattern(pattern, err);
  }
  const m = findMatch(p, value, 0, true);
  return m ? value.slice(m[1]) : value;
}
function trimSuffix(pattern, value, greedy) {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}
function reversePattern(pattern) {
  const runes = Array.from(pattern);
  const last = runes.length - 1;
  const out = new Array(runes.length);
  for (let i = 0; i <= last; ) {
    const tok = runes[i];
    const outIdx = last - i;
    if (tok === "\\" && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = runes[i + 1];
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join("");
}
function reverseString(s) {
  return Array.from(s).reverse().join("");
}
function replacePattern(pattern, value, replacement, all) {
  let p;
  try {
    p = compileShellPattern(pattern, true);
  } catch (err) {
    invalidPattern(pattern, err);
  }
  if (!all) {
    const m = findMatch(p, value, 0, false);
    return m ? value.slice(0, m[0]) + replacement + value.slice(m[1]) : value;
  }
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    const m = findMatch(p, value, searchPos, false);
    if (!m) break;
    out += value.slice(lastMatchEnd, m[0]);
    if (m[1] > lastMatchEnd || m[0] === 0) out += expandTemplate(replacement, value.slice(m[0], m[1]));
    lastMatchEnd = m[1];
    const cp3 = value.codePointAt(searchPos);
    const width = cp3 === void 0 ? 0 : cp3 > 65535 ? 2 : 1;
    if (searchPos + width > m[1]) searchPos += width;
    else if (searchPos + 1 > m[1]) searchPos++;
    else searchPos = m[1];
  }
  return out + value.slice(lastMatchEnd);
}
function expandTemplate(template, matched) {
  if (!template.includes("$")) return template;
  let out = "";
  let i = 0;
  for (; ; ) {
    const dollar = template.indexOf("$", i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === "$") {
      out += "$";
      i++;
      continue;
    }
    const ref = extractReference(template, i);
    if (ref === void 0) {
      out += "$";
      continue;
    }
    i = ref.rest;
    if (ref.name === "0") out += matched;
  }
  return out + template.slice(i);
}
function extractReference(s, at) {
  let i = at;
  const brace = s[i] === "{";
  if (brace) i++;
  const nameStart = i;
  while (i < s.length) {
    const cp3 = s.codePointAt(i);
    if (!isLetter(cp3) && !isDigit(cp3) && cp3 !== 95) break;
    i += cp3 > 65535 ? 2 : 1;
  }
  if (i === nameStart) return void 0;
  const name = s.slice(nameStart, i);
  if (brace) {
    if (s[i] !== "}") return void 0;
    i++;
  }
  return { name, rest: i };
}

// packages/parser/src/shell/words.ts
var WordBuffer = class {
  text = "";
};
var WordSplitter = class {
  constructor(buf) {
    this.buf = buf;
  }
  buf;
  words = [];
  inWord = false;
  /** A character whose whitespace separates words (unquoted text and unquoted expansions). */
  addChar(ch) {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.text.length !== 0) {
        this.words.push(this.buf.text);
        this.buf.text = "";
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  /** A character kept in the word even if it is whitespace (escaped). */
  addRawChar(ch) {
    this.buf.text += String.fromCodePoint(ch);
    this.inWord = true;
  }
  /** Expanded text that is split on its whitespace. */
  addString(str) {
    for (const c of str) this.addChar(c.codePointAt(0));
  }
  /** Quoted text, kept whole. */
  addRawString(str) {
    this.buf.text += str;
    this.inWord = true;
  }
  /** The finished words; an empty last word is dropped. */
  getWords() {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = "";
      this.inWord = false;
    }
    return this.words;
  }
};

// packages/parser/src/shell/lex.ts
var DOLLAR = 36;
var LESS = 60;
var SINGLE_QUOTE = 39;
var DOUBLE_QUOTE = 34;
var LBRACE = 123;
var RBRACE = 125;
var COLON = 58;
var SLASH = 47;
var InnerError = class extends Error {
};
function isSpecialParam2(ch) {
  switch (String.fromCodePoint(ch)) {
    case "@":
    case "*":
    case "#":
    case "?":
    case "-":
    case "$":
    case "!":
    case "0":
      return true;
    default:
      return false;
  }
}
function lookup(env, name) {
  return typeof env === "function" ? env(name) : env.get(name);
}
var WordExpansion = class {
  constructor(word, env, escapeToken, options) {
    this.env = env;
    this.escapeToken = escapeToken;
    this.options = options;
    this.scanner = new RuneScanner(word);
    this.rawEscapes = options.rawEscapes;
  }
  env;
  escapeToken;
  options;
  scanner;
  rawEscapes;
  wordsBuffer = new WordBuffer();
  matched = /* @__PURE__ */ new Set();
  unmatched = /* @__PURE__ */ new Set();
  run() {
    return this.processStopOn(EOF2, this.rawEscapes);
  }
  /** Reads up to `stopChar` (consumed) or the end of the word; `EOF` means "to the end". */
  processStopOn(stopChar, rawEscapes) {
    const s = this.scanner;
    let result = "";
    this.wordsBuffer.text = "";
    const words = new WordSplitter(this.wordsBuffer);
    const quotes = !this.options.skipProcessQuotes;
    const savedRawEscapes = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (s.peek() !== EOF2) {
        let ch = s.peek();
        if (stopChar !== EOF2 && ch === stopChar) {
          s.next();
          return { result, words: words.getWords() };
        }
        if (ch === DOLLAR) {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
        } else if (ch === LESS) {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
        } else if (quotes && ch === SINGLE_QUOTE) {
          const tmp = this.processSingleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else if (quotes && ch === DOUBLE_QUOTE) {
          const tmp = this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          ch = s.next();
          if (ch === this.escapeToken) {
            if (this.rawEscapes) {
              words.addRawChar(ch);
              result += String.fromCodePoint(ch);
            }
            ch = s.next();
            if (ch === EOF2) break;
            words.addRawChar(ch);
          } else {
            words.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stopChar !== EOF2) {
        throw new InnerError(`unexpected end of statement while looking for matching ${runeString(stopChar)}`);
      }
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = savedRawEscapes;
    }
  }
  /** Everything up to the next `'` is literal; there is no escape inside single quotes. */
  processSingleQuote() {
    const s = this.scanner;
    const raw = this.options.rawQuotes;
    let result = "";
    let ch = s.next();
    if (raw) result += String.fromCodePoint(ch);
    for (; ; ) {
      ch = s.next();
      if (ch === EOF2) throw new InnerError("unexpected end of statement while looking for matching single-quote");
      if (ch === SINGLE_QUOTE) {
        if (raw) result += String.fromCodePoint(ch);
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }
  /** Inside `"…"`, `$` expands, and the escape token escapes only `"`, `$` and itself. */
  processDoubleQuote() {
    const s = this.scanner;
    const raw = this.options.rawQuotes;
    let result = "";
    const open6 = s.next();
    if (raw) result += String.fromCodePoint(open6);
    for (; ; ) {
      const peeked = s.peek();
      if (peeked === EOF2) throw new InnerError("unexpected end of statement while looking for matching double-quote");
      if (peeked === DOUBLE_QUOTE) {
        const close = s.next();
        if (raw) result += String.fromCodePoint(close);
        return result;
      }
      if (peeked === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      let ch = s.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const after = s.peek();
        if (after === EOF2) continue;
        if (after === DOUBLE_QUOTE || after === DOLLAR || after === this.escapeToken) ch = s.next();
      }
      result += String.fromCodePoint(ch);
    }
  }
  /** `$name`, `${name}` and `${name<op>word}`; the scanner is at the `$`. */
  processDollar() {
    const s = this.scanner;
    const skipUnset = this.options.skipUnsetEnv;
    s.next();
    if (s.peek() !== LBRACE) {
      const name2 = this.processName();
      if (name2 === "") return "$";
      const value2 = this.getEnv(name2);
      if (value2 === void 0 && skipUnset) return "$" + name2;
      return value2 ?? "";
    }
    s.next();
    const first = s.peek();
    if (first === EOF2) throw new InnerError("syntax error: missing '}'");
    if (first === LBRACE || first === RBRACE || first === COLON) throw new InnerError("syntax error: bad substitution");
    const name = this.processName();
    let ch = s.next();
    let chs = runeString(ch);
    if (ch === RBRACE) {
      const value2 = this.getEnv(name);
      if (value2 === void 0 && skipUnset) return `\${${name}}`;
      return value2 ?? "";
    }
    if (ch === SLASH) return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === COLON) {
      nullIsUnset = true;
      ch = s.next();
      chs += runeString(ch);
    } else if (!"+-?#%".includes(runeString(ch))) {
      throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    }
    const op = runeString(ch);
    const isPattern = op === "#" || op === "%";
    if (nullIsUnset && isPattern) throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    let word = this.processUntilBrace(isPattern, "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (value === void 0 && skipUnset) return `\${${name}${chs}${word}}`;
    const unset = value === void 0 || nullIsUnset && value === "";
    switch (op) {
      case "-":
        return unset ? word : value;
      case "+":
        return unset ? "" : word;
      case "?":
        if (value === void 0) throw new InnerError(`${name}: ${word !== "" ? word : "is not allowed to be unset"}`);
        if (unset) throw new InnerError(`${name}: ${word !== "" ? word : "is not allowed to be empty"}`);
        return value;
      case "#":
      case "%": {
        let greedy = false;
        if (word.startsWith(op)) {
          greedy = true;
          word = word.slice(1);
        }
        const v = value ?? "";
        try {
          return op === "%" ? trimSuffix(word, v, greedy) : trimPrefix(word, v, greedy);
        } catch (err) {
          if (err instanceof PatternError) throw new InnerError(err.message);
          throw err;
        }
      }
      default:
        throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    }
  }
  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`; the scanner is past `/`. */
  processReplace(name) {
    const s = this.scanner;
    const all = s.peek() === SLASH;
    if (all) s.next();
    const pattern = this.processUntil(SLASH, true, "syntax error: missing '/' in ${}");
    const replacement = this.processUntilBrace(true, "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (value === void 0 && this.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    try {
      return replacePattern(pattern, value ?? "", replacement, all);
    } catch (err) {
      if (err instanceof PatternError) throw new InnerError(err.message);
      throw err;
    }
  }
  processUntilBrace(rawEscapes, atEnd) {
    return this.processUntil(RBRACE, rawEscapes, atEnd);
  }
  /** A nested scan up to `stop`; any failure that leaves the word exhausted becomes `atEnd`. */
  processUntil(stop, rawEscapes, atEnd) {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof InnerError && this.scanner.peek() === EOF2) throw new InnerError(atEnd);
      throw err;
    }
  }
  /** A name: all digits after a digit, one special parameter, or letters, digits and `_`. */
  processName() {
    const s = this.scanner;
    let name = "";
    while (s.peek() !== EOF2) {
      const ch = s.peek();
      if (name === "" && isDigit(ch)) {
        while (s.peek() !== EOF2 && isDigit(s.peek())) name += String.fromCodePoint(s.next());
        return name;
      }
      if (name === "" && isSpecialParam2(ch)) {
        s.next();
        return String.fromCodePoint(ch);
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== 95) break;
      s.next();
      name += String.fromCodePoint(ch);
    }
    return name;
  }
  /** `<<` and the blanks after it stay one unsplit piece, so `<< EOF` remains a heredoc marker. */
  processPossibleHeredoc() {
    const s = this.scanner;
    s.next();
    if (s.peek() !== LESS) return "<";
    s.next();
    let result = "<<";
    for (let ch = s.peek(); ch === 9 || ch === 13 || ch === 32; ch = s.peek()) {
      result += String.fromCodePoint(ch);
      s.next();
    }
    return result;
  }
  /** The value of `name`, or undefined when unset; records the name as matched or unmatched. */
  getEnv(name) {
    const value = lookup(this.env, name);
    if (value !== void 0) this.matched.add(name);
    else this.unmatched.add(name);
    return value;
  }
};
var ShellLex = class {
  /** The escape character: `\` by default, `` ` `` after `# escape=``. */
  escapeToken;
  options;
  constructor(escapeToken = "\\", options = {}) {
    if (escapeToken !== "\\" && escapeToken !== "`") {
      throw new TypeError(`escape token must be '\\' or '\`', got ${JSON.stringify(escapeToken)}`);
    }
    this.escapeToken = escapeToken;
    this.options = {
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false
    };
  }
  /**
   * BuildKit `ProcessWord`: expands variables and removes quotes and escapes, without word
   * splitting. Throws {@link ShellExpansionError} (`E_EXPANSION`) with BuildKit's message.
   *
   * @example
   * ```ts
   * new ShellLex().processWord('he${XXX:-${YYY:-yyy}}xx', new Map()); // 'heyyyxx'
   * ```
   */
  processWord(word, env) {
    return this.processWordWithMatches(word, env).result;
  }
  /**
   * BuildKit `ProcessWordWithMatches`: like {@link processWord}, and also the names that were
   * looked up and set (`matched`) or unset (`unmatched`), e.g. to find the build args a step uses.
   *
   * @example
   * ```ts
   * new ShellLex().processWordWithMatches('${A:-x}$B', new Map([['B', '1']]));
   * // { result: 'x1', matched: Set { 'B' }, unmatched: Set { 'A' } }
   * ```
   */
  processWordWithMatches(word, env) {
    const expansion = this.expansion(word, env);
    const { result } = this.run(word, expansion);
    return { result, matched: expansion.matched, unmatched: expansion.unmatched };
  }
  /**
   * BuildKit `ProcessWords`: expands and removes quotes, then splits on whitespace that is not
   * quoted or escaped (including whitespace that came out of an unquoted expansion); empty words
   * are dropped.
   *
   * @example
   * ```ts
   * new ShellLex().processWords('hello${X}def', new Map([['X', '  ab c']])); // ['hello', 'ab', 'cdef']
   * ```
   */
  processWords(word, env) {
    return this.run(word, this.expansion(word, env)).words;
  }
  expansion(word, env) {
    return new WordExpansion(word, env, this.escapeToken.codePointAt(0), this.options);
  }
  run(word, expansion) {
    try {
      return expansion.run();
    } catch (err) {
      if (err instanceof InnerError) {
        throw new ShellExpansionError(`failed to process ${goQuote(word)}: ${err.message}`, {
          data: { word, reason: err.message }
        });
      }
      throw err;
    }
  }
};

// packages/parser/src/instructions/duration.ts
var UNITS = {
  ns: 1,
  us: 1e3,
  "\xB5s": 1e3,
  "\u03BCs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 6e10,
  h: 36e11
};
var DurationError = class extends Error {
};
function parseGoDuration(text) {
  const bad = () => new DurationError(`time: invalid duration "${text}"`);
  let s = text;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad();
  let total = 0;
  while (s !== "") {
    const num = /^([0-9]*)(\.([0-9]*))?/.exec(s);
    const intPart = num[1] ?? "";
    const fracPart = num[3] ?? "";
    if (intPart === "" && fracPart === "") throw bad();
    if (num[2] !== void 0 && intPart === "" && fracPart === "") throw bad();
    s = s.slice(num[0].length);
    const unitMatch = /^[^0-9.]*/.exec(s);
    const unit = unitMatch[0];
    if (unit === "") throw new DurationError(`time: missing unit in duration "${text}"`);
    const scale = UNITS[unit];
    if (scale === void 0) throw new DurationError(`time: unknown unit "${unit}" in duration "${text}"`);
    s = s.slice(unit.length);
    total += Number(`${intPart || "0"}.${fracPart || "0"}`) * scale;
    if (total > 9223372036854776e3) throw bad();
  }
  return Math.round(neg ? -total : total);
}

// packages/parser/src/instructions/suggest.ts
function levenshtein(a, b) {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
function suggest(value, options, caseSensitive = true) {
  const v = caseSensitive ? value : value.toLowerCase();
  let best;
  let min = 3;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) return void 0;
    const d = levenshtein(v, o);
    if (d < min) {
      min = d;
      best = caseSensitive ? o : value === value.toUpperCase() ? o.toUpperCase() : value === value.toLowerCase() ? o : option;
    }
  }
  return best;
}
function withSuggestion(message, value, options, caseSensitive = true) {
  const s = suggest(value, options, caseSensitive);
  return s === void 0 ? message : `${message} (did you mean ${s}?)`;
}

// packages/parser/src/instructions/flags.ts
var FlagError = class extends Error {
};
var FlagSet = class {
  declared = /* @__PURE__ */ new Map();
  bool(name) {
    this.declared.set(name, "bool");
    return this;
  }
  string(name) {
    this.declared.set(name, "string");
    return this;
  }
  strings(name) {
    this.declared.set(name, "strings");
    return this;
  }
  /** Parses raw `--name[=value]` words. Throws {@link FlagError} with BuildKit's wording. */
  parse(words) {
    const out = { strings: /* @__PURE__ */ new Map(), lists: /* @__PURE__ */ new Map(), bools: /* @__PURE__ */ new Map(), used: [] };
    for (const word of words) {
      if (word === "--") break;
      if (!word.startsWith("--")) throw new FlagError(`arg should start with -- : ${word}`);
      const eq = word.indexOf("=");
      const flagName = eq === -1 ? word : word.slice(0, eq);
      const hasValue = eq !== -1;
      const value = hasValue ? word.slice(eq + 1) : "";
      const name = flagName.slice(2);
      const type = this.declared.get(name);
      if (type === void 0) {
        const known = [...this.declared.keys()];
        const hint = known.length === 0 ? "this instruction takes no flags" : `valid flags here: ${known.map((k) => `--${k}`).join(", ")}`;
        throw new FlagError(`${withSuggestion(`unknown flag: ${flagName}`, name, known)}; ${hint}`);
      }
      if (out.used.includes(name) && type !== "strings") throw new FlagError(`duplicate flag specified: ${flagName}; give it once`);
      if (!out.used.includes(name)) out.used.push(name);
      switch (type) {
        case "bool": {
          if (hasValue && value === "") throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName} or ${flagName}=true|false`);
          const v = value.toLowerCase();
          if (v === "true" || v === "") out.bools.set(name, true);
          else if (v === "false") out.bools.set(name, false);
          else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
          break;
        }
        case "string":
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName}=<value>`);
          out.strings.set(name, value);
          break;
        case "strings": {
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName}=<value>`);
          const list = out.lists.get(name) ?? [];
          list.push(value);
          out.lists.set(name, list);
          break;
        }
      }
    }
    return out;
  }
};

// packages/parser/src/instructions/mount.ts
var MountError = class extends Error {
};
var MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"];
var SHARING = ["shared", "private", "locked"];
var ALL_KEYS = ["type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"];
function splitCsv(text) {
  const fields = [];
  let i = 0;
  for (; ; ) {
    if (text[i] === '"') {
      let value = "";
      i++;
      for (; ; ) {
        const q = text.indexOf('"', i);
        if (q === -1) throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${text.length + 1}: extraneous or missing " in quoted-field`);
        value += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          value += '"';
          i++;
          continue;
        }
        if (i < text.length && text[i] !== ",") throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
        break;
      }
      fields.push(value);
    } else {
      const comma = text.indexOf(",", i);
      const end = comma === -1 ? text.length : comma;
      const value = text.slice(i, end);
      const bare = value.indexOf('"');
      if (bare !== -1) throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${i + bare + 1}: bare " in non-quoted-field`);
      fields.push(value);
      i = end;
    }
    if (i >= text.length) break;
    i++;
    if (i === text.length) {
      fields.push("");
      break;
    }
  }
  return fields;
}
function parseMountSpec(raw) {
  const fields = [];
  for (const field of splitCsv(raw)) {
    const eq = field.indexOf("=");
    if (eq === -1) {
      fields.push({ key: field.toLowerCase() });
      continue;
    }
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === "from") {
      const dollar = value.indexOf("$");
      if (dollar !== -1 && dollar !== value.length - 1) throw new MountError(`'from' doesn't support variable expansion, define alias stage instead`);
    }
    fields.push({ key, value });
  }
  return { raw, fields };
}
function parseGoBool(v) {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return void 0;
}
function parseUint(v, radix) {
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(v)) return void 0;
  const n = parseInt(v, radix);
  return n > 4294967295 ? void 0 : n;
}
function ramInBytes(v) {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) throw new MountError(`invalid size: '${v}'`);
  const size = Number(m[1]);
  if (Number.isNaN(size)) throw new MountError(`invalid size: '${v}'`);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[unit] ?? 1;
  return Math.trunc(size * mult);
}
function resolveMount(spec, expand) {
  const m = { type: "bind", from: "", source: "", target: "", readOnly: false, sizeLimit: 0, id: "", sharing: "", required: false };
  let roAuto = true;
  const invalidValue = (key, value) => new MountError(`invalid value for ${key}: ${value}`);
  for (const field of spec.fields) {
    const key = field.key;
    if (field.value === void 0) {
      switch (key) {
        case "readonly":
        case "ro":
          m.readOnly = true;
          roAuto = false;
          continue;
        case "readwrite":
        case "rw":
          m.readOnly = false;
          roAuto = false;
          continue;
        case "required":
          if (m.type === "secret" || m.type === "ssh") {
            m.required = true;
            continue;
          }
          throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        default:
          throw new MountError(`invalid field '${key}' must be a key=value pair`);
      }
    }
    const value = expand(field.value);
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!MOUNT_TYPES.includes(t)) throw new MountError(withSuggestion(`unsupported mount type "${value}"`, value, MOUNT_TYPES) + `; use one of ${MOUNT_TYPES.join(", ")}`);
        m.type = t;
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro": {
        const b = parseGoBool(value);
        if (b === void 0) throw invalidValue(key, value);
        m.readOnly = b;
        roAuto = false;
        break;
      }
      case "readwrite":
      case "rw": {
        const b = parseGoBool(value);
        if (b === void 0) throw invalidValue(key, value);
        m.readOnly = !b;
        roAuto = false;
        break;
      }
      case "required": {
        if (m.type !== "secret" && m.type !== "ssh") throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        const b = parseGoBool(value);
        if (b === void 0) throw invalidValue(key, value);
        m.required = b;
        break;
      }
      case "size":
        if (m.type !== "tmpfs") throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        try {
          m.sizeLimit = ramInBytes(value);
        } catch {
          throw invalidValue(key, value);
        }
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!SHARING.includes(s)) throw new MountError(withSuggestion(`unsupported sharing value "${value}"`, value, SHARING) + `; use one of ${SHARING.join(", ")}`);
        m.sharing = s;
        break;
      }
      case "mode": {
        const n = parseUint(value, 8);
        if (n === void 0) throw new MountError(`invalid value ${value} for mode`);
        m.mode = n;
        break;
      }
      case "uid": {
        const n = parseUint(value, 10);
        if (n === void 0) throw new MountError(`invalid value ${value} for uid`);
        m.uid = n;
        break;
      }
      case "gid": {
        const n = parseUint(value, 10);
        if (n === void 0) throw new MountError(`invalid value ${value} for gid`);
        m.gid = n;
        break;
      }
      case "env":
        m.env = value;
        break;
      default:
        throw new MountError(withSuggestion(`unexpected key '${key}' in '${key}=${field.value}'`, key, ALL_KEYS));
    }
  }
  const fileInfoAllowed = m.type === "secret" || m.type === "ssh" || m.type === "cache";
  if (!fileInfoAllowed) {
    if (m.mode !== void 0) throw new MountError(`mode not allowed for "${m.type}" type mounts`);
    if (m.uid !== void 0) throw new MountError(`uid not allowed for "${m.type}" type mounts`);
    if (m.gid !== void 0) throw new MountError(`gid not allowed for "${m.type}" type mounts`);
  }
  if (roAuto) m.readOnly = !(m.type === "cache" || m.type === "tmpfs");
  if (m.type === "secret") {
    if (m.from !== "") throw new MountError("secret mount should not have a from");
    if (m.sharing !== "") throw new MountError("secret mount should not define sharing");
    if (m.source === "" && m.target === "" && m.id === "") throw new MountError("invalid secret mount. one of source, target required");
    if (m.source !== "" && m.id !== "") throw new MountError("both source and id can't be set");
  }
  if (m.sharing !== "" && m.type !== "cache") throw new MountError(`invalid cache sharing set for ${m.type} mount`);
  return m;
}

// packages/parser/src/instructions/parse.ts
var INSTRUCTION_NAMES = [
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR"
];
var VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
var HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;
function nodeLocation(node, file2) {
  const r = node.range;
  return { file: file2, line: r.startLine, column: r.startColumn, endLine: r.endLine, endColumn: r.endColumn };
}
function chompHeredocContent(content) {
  return content.replace(/^\t+/gm, "");
}
function parseHeredocWord2(word) {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return void 0;
  const rest = m[3] ?? "";
  if (rest === "" || /\s/.test(rest.trim())) return void 0;
  const name = rest.trim().replace(/\\(.)/g, "$1").replace(/["']/g, "");
  if (name === "") return void 0;
  return { name, chomp: m[2] === "-", expand: !/["']/.test(rest) };
}
var Req = class {
  constructor(node, file2) {
    this.node = node;
    this.file = file2;
    this.location = nodeLocation(node, file2);
    this.text = node.original.trim();
  }
  node;
  file;
  location;
  text;
  get args() {
    return this.node.args;
  }
  fail(code, message) {
    return new DockerfileSyntaxError(code, message, this.location, { data: { instruction: this.node.keyword.toUpperCase() } });
  }
  flags(set) {
    try {
      return set.parse(this.node.flags);
    } catch (e) {
      if (e instanceof FlagError) throw this.fail("E_FLAG", `${this.node.keyword.toUpperCase()}: ${e.message}`);
      throw e;
    }
  }
  base() {
    return { location: this.location, text: this.text, keywordText: this.node.keywordText };
  }
};
var noFlags = () => new FlagSet();
function atLeastOne(req, name) {
  return req.fail("E_ARGUMENTS", `${name} requires at least one argument`);
}
function exactlyOne(req, name) {
  return req.fail("E_ARGUMENTS", `${name} requires exactly one argument`);
}
function commandLine(req) {
  if (req.node.json) return { form: "exec", args: [...req.args] };
  return { form: "shell", script: req.args.join(" ") };
}
function keyValues(req, name) {
  const args = req.args;
  if (args.length === 0) throw atLeastOne(req, name);
  if (args.length % 3 !== 0) throw req.fail("E_ARGUMENTS", `Bad input to ${name}, too many arguments`);
  const out = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i];
    if (key === "") throw req.fail("E_ARGUMENTS", `${name} names can not be blank`);
    out.push({ key, value: args[i + 1] ?? "", legacy: (args[i + 2] ?? "") === "" });
  }
  return out;
}
function sourcesAndDest(req, name) {
  const args = req.args;
  const dest = args[args.length - 1];
  if (parseHeredocWord2(dest)) throw req.fail("E_ARGUMENTS", `${name} cannot accept a heredoc as a destination`);
  const byName = /* @__PURE__ */ new Map();
  for (const h of req.node.heredocs) byName.set(h.name, h);
  const sources = [];
  const heredocSources = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocWord2(src);
    if (h) {
      let data = byName.get(h.name)?.content ?? "";
      if (h.chomp) data = chompHeredocContent(data);
      heredocSources.push({ path: h.name, data, expand: byName.get(h.name)?.expand ?? h.expand });
    } else {
      sources.push(src);
    }
  }
  return { sources, heredocSources, dest };
}
function parseCopyOrAdd(req, kind) {
  if (req.args.length < 2) {
    throw req.fail("E_ARGUMENTS", `${kind} requires at least two arguments, but only one was provided. Destination could not be determined`);
  }
  const set = new FlagSet().string("chown").string("chmod").bool("link").strings("exclude");
  if (kind === "ADD") set.bool("keep-git-dir").string("checksum").bool("unpack");
  else set.string("from").bool("parents");
  const f = req.flags(set);
  const sd = sourcesAndDest(req, kind);
  const common = {
    ...req.base(),
    ...sd,
    ...f.strings.get("chown") ? { chown: f.strings.get("chown") } : {},
    ...f.strings.get("chmod") ? { chmod: f.strings.get("chmod") } : {},
    link: f.bools.get("link") ?? false,
    exclude: f.lists.get("exclude") ?? []
  };
  if (kind === "ADD") {
    return {
      kind: "ADD",
      ...common,
      ...f.bools.has("keep-git-dir") ? { keepGitDir: f.bools.get("keep-git-dir") } : {},
      ...f.strings.get("checksum") ? { checksum: f.strings.get("checksum") } : {},
      ...f.bools.has("unpack") ? { unpack: f.bools.get("unpack") } : {}
    };
  }
  return {
    kind: "COPY",
    ...common,
    ...f.strings.get("from") ? { from: f.strings.get("from") } : {},
    parents: f.bools.get("parents") ?? false
  };
}
function optInterval(req, name, value) {
  if (value === void 0 || value === "") return 0;
  let d;
  try {
    d = parseGoDuration(value);
  } catch (e) {
    if (e instanceof DurationError) throw req.fail("E_FLAG", `HEALTHCHECK --${name}: ${e.message}; use a Go duration such as 30s, 1m30s or 500ms`);
    throw e;
  }
  if (d === 0) return 0;
  if (d < 1e6) throw req.fail("E_FLAG", `Interval "${name}" cannot be less than 1ms`);
  return d;
}
function parseHealthcheck(req) {
  if (req.args.length === 0) throw atLeastOne(req, "HEALTHCHECK");
  const typ = req.args[0].toUpperCase();
  const rest = req.args.slice(1);
  if (typ === "NONE") {
    if (rest.length !== 0) throw req.fail("E_ARGUMENTS", "HEALTHCHECK NONE takes no arguments");
    return { kind: "none" };
  }
  const f = req.flags(new FlagSet().string("interval").string("timeout").string("start-period").string("start-interval").string("retries"));
  if (typ !== "CMD") throw req.fail("E_ARGUMENTS", `Unknown type "${req.args[0]}" in HEALTHCHECK (try CMD)`);
  const command = req.node.json ? { form: "exec", args: rest } : { form: "shell", script: rest.join(" ") };
  const cmdSlice = req.node.json ? rest : [rest.join(" ")];
  if (cmdSlice.length === 0) throw req.fail("E_ARGUMENTS", "Missing command after HEALTHCHECK CMD");
  const test = [req.node.json ? "CMD" : "CMD-SHELL", ...cmdSlice];
  const interval = optInterval(req, "interval", f.strings.get("interval"));
  const timeout = optInterval(req, "timeout", f.strings.get("timeout"));
  const startPeriod = optInterval(req, "start-period", f.strings.get("start-period"));
  const startInterval = optInterval(req, "start-interval", f.strings.get("start-interval"));
  let retries = 0;
  const r = f.strings.get("retries");
  if (r !== void 0 && r !== "") {
    if (!/^[+-]?[0-9]+$/.test(r)) throw req.fail("E_FLAG", `HEALTHCHECK --retries: strconv.ParseInt: parsing "${r}": invalid syntax`);
    const n = Number(r);
    if (n > 2147483647 || n < -2147483648) throw req.fail("E_FLAG", `HEALTHCHECK --retries: strconv.ParseInt: parsing "${r}": value out of range`);
    if (n < 0) throw req.fail("E_FLAG", `--retries cannot be negative (${n})`);
    retries = n;
  }
  return { kind: "cmd", command, test, interval, timeout, startPeriod, startInterval, retries };
}
function parseArgs(req) {
  if (req.args.length < 1) throw atLeastOne(req, "ARG");
  return req.args.map((arg) => {
    const eq = arg.indexOf("=");
    if (eq === -1) return { key: arg };
    if (eq === 0) throw req.fail("E_ARGUMENTS", "ARG names can not be blank");
    return { key: arg.slice(0, eq), value: arg.slice(eq + 1) };
  });
}
function parseRun(req) {
  const f = req.flags(new FlagSet().strings("mount").string("network").string("security"));
  const network = f.strings.get("network") ?? "default";
  if (!["default", "none", "host"].includes(network)) throw req.fail("E_FLAG", `invalid network mode "${network}"; use --network=default, none or host`);
  const security = f.strings.get("security") ?? "sandbox";
  if (!["sandbox", "insecure"].includes(security)) throw req.fail("E_FLAG", `security "${security}" is not valid; use --security=sandbox or insecure`);
  let mounts;
  try {
    mounts = (f.lists.get("mount") ?? []).map(parseMountSpec);
  } catch (e) {
    if (e instanceof MountError) throw req.fail("E_FLAG", `RUN --mount: ${e.message}`);
    throw e;
  }
  return {
    kind: "RUN",
    ...req.base(),
    command: commandLine(req),
    heredocs: req.node.heredocs,
    mounts,
    network,
    security,
    flagsUsed: f.used
  };
}
function parseOnbuild(req, file2) {
  const sub = req.node.sub;
  if (!sub) throw atLeastOne(req, "ONBUILD");
  req.flags(noFlags());
  const trigger = sub.keyword.toUpperCase().trim();
  if (trigger === "ONBUILD") throw req.fail("E_ARGUMENTS", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger === "MAINTAINER" || trigger === "FROM") throw req.fail("E_ARGUMENTS", `${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = req.node.original.replace(/^\s*ONBUILD\s*/i, "");
  for (const h of sub.heredocs.length ? sub.heredocs : req.node.heredocs) expression += `
${h.content}${h.name}`;
  let parsed2;
  let triggerError;
  try {
    parsed2 = parseInstruction({ ...sub, range: req.node.range }, file2);
  } catch (e) {
    triggerError = e instanceof Error ? e.message : String(e);
  }
  return { kind: "ONBUILD", ...req.base(), expression, ...parsed2 ? { trigger: parsed2 } : {}, ...triggerError ? { triggerError } : {} };
}
function parseInstruction(node, file2 = "Dockerfile") {
  const req = new Req(node, file2);
  const args = node.args;
  switch (node.keyword.toLowerCase()) {
    case "env": {
      req.flags(noFlags());
      return { kind: "ENV", ...req.base(), env: keyValues(req, "ENV") };
    }
    case "maintainer":
      if (args.length !== 1) throw exactlyOne(req, "MAINTAINER");
      req.flags(noFlags());
      return { kind: "MAINTAINER", ...req.base(), maintainer: args[0] };
    case "label":
      req.flags(noFlags());
      return { kind: "LABEL", ...req.base(), labels: keyValues(req, "LABEL") };
    case "add":
    case "copy":
      return parseCopyOrAdd(req, node.keyword.toUpperCase());
    case "from": {
      let stageName;
      if (args.length === 3 && args[1].toLowerCase() === "as") {
        stageName = args[2].toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw req.fail("E_ARGUMENTS", `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        throw req.fail("E_ARGUMENTS", "FROM requires either one or three arguments (FROM <image> [AS <name>])");
      }
      const f = req.flags(new FlagSet().string("platform"));
      const platform = f.strings.get("platform");
      return { kind: "FROM", ...req.base(), image: args[0], ...stageName ? { stageName } : {}, ...platform ? { platform } : {} };
    }
    case "onbuild":
      return parseOnbuild(req, file2);
    case "workdir":
      if (args.length !== 1) throw exactlyOne(req, "WORKDIR");
      req.flags(noFlags());
      return { kind: "WORKDIR", ...req.base(), path: args[0] };
    case "run":
      return parseRun(req);
    case "cmd":
      req.flags(noFlags());
      return { kind: "CMD", ...req.base(), command: commandLine(req), heredocs: node.heredocs };
    case "entrypoint":
      req.flags(noFlags());
      return { kind: "ENTRYPOINT", ...req.base(), command: commandLine(req), heredocs: node.heredocs };
    case "healthcheck":
      return { kind: "HEALTHCHECK", ...req.base(), health: parseHealthcheck(req) };
    case "expose":
      if (args.length === 0) throw atLeastOne(req, "EXPOSE");
      req.flags(noFlags());
      return { kind: "EXPOSE", ...req.base(), ports: [...args].sort((a, b) => a < b ? -1 : a > b ? 1 : 0) };
    case "user":
      if (args.length !== 1) throw exactlyOne(req, "USER");
      req.flags(noFlags());
      return { kind: "USER", ...req.base(), user: args[0] };
    case "volume": {
      if (args.length === 0) throw atLeastOne(req, "VOLUME");
      req.flags(noFlags());
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === "")) throw req.fail("E_ARGUMENTS", "VOLUME specified can not be an empty string");
      return { kind: "VOLUME", ...req.base(), volumes };
    }
    case "stopsignal":
      if (args.length !== 1) throw exactlyOne(req, "STOPSIGNAL");
      return { kind: "STOPSIGNAL", ...req.base(), signal: args[0] };
    case "arg":
      return { kind: "ARG", ...req.base(), args: parseArgs(req) };
    case "shell": {
      req.flags(noFlags());
      if (node.json && args.length === 0) throw atLeastOne(req, "SHELL");
      if (!node.json) {
        if (args.length === 0 || args.join(" ") === "") throw atLeastOne(req, "SHELL");
        throw req.fail("E_ARGUMENTS", 'SHELL requires the arguments to be in JSON form, for example SHELL ["/bin/bash", "-c"]');
      }
      return { kind: "SHELL", ...req.base(), shell: [...args] };
    }
    default:
      throw req.fail(
        "E_UNKNOWN_INSTRUCTION",
        `${withSuggestion(`unknown instruction: ${node.keywordText}`, node.keywordText, INSTRUCTION_NAMES, false)}; valid instructions are ${INSTRUCTION_NAMES.join(", ")}`
      );
  }
}
function parseInstructions(tree) {
  return tree.children.map((node) => parseInstruction(node, tree.file));
}

// packages/parser/src/instructions/chmod.ts
var ChmodError = class extends Error {
};
function parseChmod(text) {
  const nonOctal = () => new ChmodError(`invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`);
  if (/^[0-7]+$/.test(text)) {
    const mode = parseInt(text, 8);
    if (mode > 4095) throw nonOctal();
    return { kind: "octal", mode };
  }
  if (text === "") throw new ChmodError("invalid syntax");
  if (/^[0-9]/.test(text)) throw nonOctal();
  if (!isSymbolicMode(text)) throw new ChmodError(`invalid chmod parameter: '${text}': invalid syntax; use octal (0755) or symbolic (u+x,g-w) form`);
  return { kind: "symbolic", text };
}
function isSymbolicMode(s) {
  let i = 0;
  for (; ; ) {
    while (i < s.length && "augo".includes(s[i])) i++;
    if (i >= s.length) return false;
    if (!"+-=".includes(s[i])) return false;
    while (i < s.length && "+-=".includes(s[i])) {
      i++;
      while (i < s.length && "rstwxXugo".includes(s[i])) i++;
    }
    if (i === s.length) return true;
    if (s[i] !== ",") return false;
    i++;
  }
}

// packages/parser/src/platform.ts
var COMPONENT = /^[A-Za-z0-9_-]+$/;
var KNOWN_OS = /* @__PURE__ */ new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "windows",
  "zos",
  "macos",
  "wasip1"
]);
var KNOWN_ARCH = /* @__PURE__ */ new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "ppc64",
  "ppc64le",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
  "i386",
  "x86_64",
  "x86-64",
  "aarch64",
  "armhf",
  "armel"
]);
function invalid(spec, why) {
  return new DockerfileSyntaxError("E_PLATFORM", `invalid platform "${spec}": ${why}; use the form os/architecture[/variant], for example linux/arm64 or linux/arm/v7`, void 0, { data: { platform: spec } });
}
function parsePlatform(spec, defaults = { os: "linux", architecture: "amd64" }) {
  if (spec === "") throw invalid(spec, "the platform is empty");
  let osVersion;
  let rest = spec;
  const m = /^([^/()]+)\(([^()]*)\)(\/.*)?$/.exec(spec);
  if (m) {
    osVersion = m[2];
    rest = (m[1] ?? "") + (m[3] ?? "");
  }
  const parts = rest.split("/");
  for (const part of parts) {
    if (!COMPONENT.test(part)) throw invalid(spec, `"${part}" is an invalid component (it must match ${COMPONENT.source})`);
  }
  let p;
  if (parts.length === 1) {
    const one = (parts[0] ?? "").toLowerCase();
    if (KNOWN_OS.has(one)) p = { os: one, architecture: defaults.architecture, ...defaults.variant && one === defaults.os ? { variant: defaults.variant } : {} };
    else if (KNOWN_ARCH.has(one)) p = { os: defaults.os, architecture: one };
    else throw invalid(spec, `"${one}" is neither a known operating system nor a known architecture`);
  } else if (parts.length === 2) {
    p = { os: parts[0], architecture: parts[1] };
  } else if (parts.length === 3) {
    p = { os: parts[0], architecture: parts[1], variant: parts[2] };
  } else {
    throw invalid(spec, "too many components");
  }
  if (osVersion) p.osVersion = osVersion;
  return normalizePlatform(p);
}
function normalizePlatform(p) {
  let os10 = p.os.toLowerCase();
  if (os10 === "macos") os10 = "darwin";
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (arch) {
    case "i386":
      arch = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  const out = { os: os10, architecture: arch };
  if (variant) out.variant = variant;
  if (p.osVersion) out.osVersion = p.osVersion;
  return out;
}
function formatPlatform(p) {
  return [p.os || "unknown", p.architecture, ...p.variant ? [p.variant] : []].join("/");
}
function formatPlatformAll(p) {
  const os10 = (p.os || "unknown") + (p.osVersion ? `(${p.osVersion})` : "");
  return [os10, p.architecture, ...p.variant ? [p.variant] : []].join("/");
}

// packages/parser/src/graph/env.ts
var EnvList = class _EnvList {
  constructor(pairs) {
    this.pairs = pairs;
  }
  pairs;
  static empty() {
    return new _EnvList([]);
  }
  static fromPairs(pairs) {
    let e = _EnvList.empty();
    for (const [k, v] of pairs) e = e.addOrReplace(k, v);
    return e;
  }
  get(key) {
    for (let i = this.pairs.length - 1; i >= 0; i--) if (this.pairs[i][0] === key) return this.pairs[i][1];
    return void 0;
  }
  has(key) {
    return this.pairs.some((p) => p[0] === key);
  }
  /** LLB state rule: remove then append. */
  addOrReplace(key, value) {
    return new _EnvList([...this.pairs.filter((p) => p[0] !== key), [key, value]]);
  }
  /** Image config rule: replace in place, else append. */
  setInPlace(key, value) {
    const i = this.pairs.findIndex((p) => p[0] === key);
    if (i === -1) return new _EnvList([...this.pairs, [key, value]]);
    const next = [...this.pairs];
    next[i] = [key, value];
    return new _EnvList(next);
  }
  keys() {
    return this.pairs.map((p) => p[0]);
  }
  toPairs() {
    return this.pairs.map(([k, v]) => [k, v]);
  }
  toMap() {
    return new Map(this.pairs.map(([k, v]) => [k, v]));
  }
};
function envFromStrings(env) {
  return env.map((s) => {
    const eq = s.indexOf("=");
    return eq === -1 ? [s, ""] : [s.slice(0, eq), s.slice(eq + 1)];
  });
}

// packages/parser/src/graph/ports.ts
var PortError = class extends Error {
};
function portNumber(raw) {
  if (raw === "") throw new PortError("value is empty");
  if (!/^[+-]?[0-9]+$/.test(raw)) throw new PortError("invalid syntax");
  const n = Number(raw);
  if (n < 0 || n > 65535) throw new PortError("value out of range (0\u201365535)");
  return n;
}
function portRange(ports) {
  if (ports === "") throw new PortError("empty string specified for ports");
  const dash = ports.indexOf("-");
  const start2 = dash === -1 ? ports : ports.slice(0, dash);
  const end = dash === -1 ? "" : ports.slice(dash + 1);
  const s = portNumber(start2);
  if (dash === -1 || start2 === end) return [s, s];
  const e = portNumber(end);
  if (e < s) throw new PortError(`invalid port range: ${ports}`);
  return [s, e];
}
function parsePorts(specs) {
  const out = [];
  for (const raw of specs) {
    const parts = raw.split(":");
    const containerPart = parts[parts.length - 1];
    const hostPort = parts.length >= 2 ? parts[parts.length - 2] : "";
    const slash = containerPart.indexOf("/");
    const port = slash === -1 ? containerPart : containerPart.slice(0, slash);
    let proto = slash === -1 ? "" : containerPart.slice(slash + 1);
    if (port === "") throw new PortError(`invalid port: "${raw}": no port specified`);
    if (proto === "") proto = "tcp";
    else if (!["tcp", "udp", "sctp"].includes(proto.toLowerCase())) throw new PortError(`invalid port: "${raw}": invalid proto: ${proto}`);
    let range;
    try {
      range = portRange(port);
    } catch {
      throw new PortError(`invalid containerPort: ${port}`);
    }
    if (hostPort !== "") {
      let hr;
      try {
        hr = portRange(hostPort);
      } catch {
        throw new PortError(`invalid hostPort: ${hostPort}`);
      }
      if (range[1] - range[0] !== hr[1] - hr[0] && range[1] !== range[0]) {
        throw new PortError(`invalid ranges specified for container and host Ports: ${port} and ${hostPort}`);
      }
    }
    for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}

// packages/parser/src/graph/reference.ts
var PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
var DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
var HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])`;
var NAME = `(?:${HOST}(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
var REFERENCE2 = new RegExp(`^(${NAME})(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}))?$`);
var ReferenceFormatError = class extends Error {
};
function normalizeImageReference(ref) {
  if (/^[a-f0-9]{64}$/.test(ref)) throw new ReferenceFormatError(`invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  let domain;
  let remainder;
  const i = ref.indexOf("/");
  const first = i === -1 ? "" : ref.slice(0, i);
  if (i === -1 || !/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first) {
    domain = "docker.io";
    remainder = ref;
  } else {
    domain = first;
    remainder = ref.slice(i + 1);
  }
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !remainder.includes("/")) remainder = `library/${remainder}`;
  const colon = remainder.indexOf(":");
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) throw new ReferenceFormatError(`invalid reference format: repository name (${remote}) must be lowercase`);
  const full = `${domain}/${remainder}`;
  const m = REFERENCE2.exec(full);
  if (!m) {
    if (ref === "") throw new ReferenceFormatError("invalid reference format: repository name must have at least one component");
    throw new ReferenceFormatError("invalid reference format");
  }
  if ((m[1] ?? "").length > 255) throw new ReferenceFormatError("invalid reference format: repository name must not be more than 255 characters");
  return m[2] === void 0 && m[3] === void 0 ? `${full}:latest` : full;
}

// packages/parser/src/graph/signal.ts
var LINUX_SIGNALS = {
  ABRT: 6,
  ALRM: 14,
  BUS: 7,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  FPE: 8,
  HUP: 1,
  ILL: 4,
  INT: 2,
  IO: 29,
  IOT: 6,
  KILL: 9,
  PIPE: 13,
  POLL: 29,
  PROF: 27,
  PWR: 30,
  QUIT: 3,
  SEGV: 11,
  STKFLT: 16,
  STOP: 19,
  SYS: 31,
  TERM: 15,
  TRAP: 5,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  USR1: 10,
  USR2: 12,
  VTALRM: 26,
  WINCH: 28,
  XCPU: 24,
  XFSZ: 25,
  RTMIN: 34,
  RTMAX: 64
};
for (let i = 1; i <= 15; i++) {
  LINUX_SIGNALS[`RTMIN+${i}`] = 34 + i;
  LINUX_SIGNALS[`RTMAX-${i}`] = 64 - i;
}
var SignalError = class extends Error {
};
function parseSignal(raw) {
  if (/^[0-9]+$/.test(raw)) {
    const n2 = Number(raw);
    if (n2 === 0) throw new SignalError(`invalid signal: ${raw}`);
    return n2;
  }
  const n = LINUX_SIGNALS[raw.toUpperCase().replace(/^SIG/, "")];
  if (n === void 0) throw new SignalError(`invalid signal: ${raw}`);
  return n;
}

// packages/parser/src/graph/build.ts
var DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
var PROXY_ARGS = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];
var NON_ENV_ARGS = /* @__PURE__ */ new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);
function fail(code, message, at, data = {}) {
  const location = at && "location" in at ? at.location : at;
  return new DockerfileSyntaxError(code, message, location, { data });
}
function located(at, fn, prefix = "") {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DockerfileSyntaxError) {
      if (e.location) throw e;
      throw fail(e.code, e.message.replace(/^[^:]*:\d+:\d+: /, ""), at, e.data);
    }
    if (e instanceof ShellExpansionError) throw fail("E_EXPANSION", prefix + e.message, at);
    if (e instanceof MountError || e instanceof ChmodError || e instanceof PortError || e instanceof SignalError) throw fail("E_FLAG", prefix + e.message, at);
    if (e instanceof ReferenceFormatError) throw fail("E_REFERENCE", prefix + e.message, at);
    if (e instanceof Error && (e.name === "ShellExpansionError" || e.code === "E_EXPANSION")) throw fail("E_EXPANSION", prefix + e.message, at);
    throw e;
  }
}
function resolved(p) {
  return { ...p, string: formatPlatform(p) };
}
function toTree(dockerfile, file2) {
  if (typeof dockerfile !== "string") return file2 && file2 !== dockerfile.file ? { ...dockerfile, file: file2 } : dockerfile;
  return parseDockerfile(dockerfile, { file: file2 ?? "Dockerfile" });
}
function splitStages(instructions) {
  const metaArgs = [];
  const stages = [];
  for (const ins of instructions) {
    if (ins.kind === "FROM") {
      stages.push({ from: ins, commands: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (ins.kind === "ARG") {
        metaArgs.push(ins);
        continue;
      }
      throw fail("E_NO_FROM", `no build stage in current context: ${ins.kind} comes before the first FROM; only ARG may appear before FROM`, ins);
    }
    current.commands.push(ins);
  }
  return { metaArgs, stages };
}
function platforms(options) {
  const parse2 = (s, d) => parsePlatform(s, d);
  if (options.buildPlatform) {
    const build2 = parse2(options.buildPlatform);
    return { build: build2, target: options.platform ? parse2(options.platform, build2) : build2 };
  }
  if (options.platform) {
    const target = parse2(options.platform);
    return { build: target, target };
  }
  const p = { os: "linux", architecture: "amd64" };
  return { build: p, target: p };
}
function defaultArgs(target, build2, overrides, targetStage) {
  const pairs = [
    ["BUILDPLATFORM", formatPlatform(build2)],
    ["BUILDOS", build2.os],
    ["BUILDOSVERSION", build2.osVersion ?? ""],
    ["BUILDARCH", build2.architecture],
    ["BUILDVARIANT", build2.variant ?? ""],
    ["TARGETPLATFORM", formatPlatformAll(target)],
    ["TARGETOS", target.os],
    ["TARGETOSVERSION", target.osVersion ?? ""],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant ?? ""],
    ["TARGETSTAGE", targetStage || "default"]
  ];
  let env = EnvList.empty();
  for (const [k, v] of pairs) env = env.addOrReplace(k, Object.hasOwn(overrides, k) ? overrides[k] : v);
  return env;
}
function expandWord(ctx, word, env, used) {
  const r = ctx.lex.processWordWithMatches(word, env.toMap());
  if (used) for (const k of r.matched) used.add(k);
  return r.result;
}
function imageSource(ref) {
  return { kind: "image", ref, normalizedRef: normalizeImageReference(ref) };
}
function toCommand(ctx, ins, onbuild) {
  const cmd = { instruction: ins, onbuild, sources: [] };
  if (ins.kind === "COPY" && ins.from !== void 0) {
    const from = ins.from;
    const res = located(ins, () => ctx.lex.processWord(from, /* @__PURE__ */ new Map()));
    if (res !== from) {
      throw fail("E_FLAG", "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", ins);
    }
    let source;
    if (/^[+-]?[0-9]+$/.test(from)) {
      const index = Number(from);
      const st = ctx.states[index];
      if (!st || index < 0) throw fail("E_UNKNOWN_STAGE", `invalid stage index ${index}: COPY --from=<n> must name an earlier stage by its 0-based position`, ins);
      source = { kind: "stage", state: st };
    } else {
      const st = ctx.byName.get(from.toLowerCase());
      source = st ? { kind: "stage", state: st } : located(ins, () => imageSource(from), `failed to parse --from image "${from}": `);
    }
    cmd.sources = [source];
  }
  if (ins.kind === "RUN") {
    cmd.sources = ins.mounts.map((m) => {
      const from = m.fields.filter((f) => f.key === "from" && f.value !== void 0).pop()?.value ?? "";
      if (from === "" || from === "scratch") {
        const st2 = ctx.byName.get("scratch");
        return st2 ? { kind: "stage", state: st2 } : from === "" ? void 0 : { kind: "scratch" };
      }
      const st = ctx.byName.get(from.toLowerCase());
      if (st) return { kind: "stage", state: st };
      return located(ins, () => imageSource(from), `failed to parse mount from "${from}": `);
    });
  }
  return cmd;
}
function addDeps(state, cmd) {
  for (const s of cmd.sources) {
    if (s?.kind === "stage") state.stageDeps.set(s.state, cmd.instruction);
    else if (s?.kind === "image") state.imageDeps.add(s.ref);
  }
}
function checkCycles(states) {
  const visited = /* @__PURE__ */ new Set();
  const path28 = /* @__PURE__ */ new Set();
  const visit = (s, trail) => {
    if (visited.has(s)) return void 0;
    visited.add(s);
    path28.add(s);
    for (const [dep, at] of s.stageDeps) {
      const next = [...trail, at];
      if (path28.has(dep)) return next;
      const found = visit(dep, next);
      if (found) return found;
    }
    path28.delete(s);
    return void 0;
  };
  for (const s of states) {
    const trail = visit(s, []);
    if (trail) {
      throw fail("E_CYCLE", `circular dependency detected on stage: ${s.displayName}; a stage cannot copy or mount from itself or from a stage that depends on it`, trail[trail.length - 1], {
        stage: s.index
      });
    }
  }
}
function reachable(target) {
  const out = /* @__PURE__ */ new Set();
  const add = (s) => {
    if (out.has(s)) return;
    out.add(s);
    if (s.base) add(s.base);
    for (const d of s.stageDeps.keys()) add(d);
  };
  add(target);
  return out;
}
function initOnBuild(ctx, st, triggers) {
  let newDeps = false;
  const cmds = [];
  for (const trigger of triggers) {
    const ins = located(st.from, () => {
      const tree = parseDockerfile(trigger, { file: ctx.file });
      if (tree.children.length !== 1) throw fail("E_ARGUMENTS", "onbuild trigger should be a single expression", st.from);
      const node = tree.children[0];
      const r = st.from.location;
      const parsed2 = parseInstruction({ ...node, range: { startLine: r.line, startColumn: r.column, endLine: r.endLine, endColumn: r.endColumn } }, ctx.file);
      if (parsed2.kind === "FROM") throw fail("E_ARGUMENTS", "FROM is not a command type: it cannot be an ONBUILD trigger", st.from);
      return parsed2;
    }, "ONBUILD trigger: ");
    const cmd = toCommand(ctx, ins, true);
    if (cmd.sources.some((s) => s?.kind === "stage")) newDeps = true;
    addDeps(st, cmd);
    cmds.push(cmd);
  }
  st.commands = [...cmds, ...st.commands];
  return newDeps;
}
function normalizeWorkdir(current, requested) {
  const join13 = (...parts) => {
    const segs = [];
    for (const seg of parts.join("/").split("/")) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") segs.pop();
      else segs.push(seg);
    }
    return `/${segs.join("/")}`;
  };
  const parent = current === "" ? "/" : current;
  if (requested === "") return join13(parent);
  return requested.startsWith("/") ? join13(requested) : join13(parent, requested);
}
function defaultShell(os10) {
  return os10 === "windows" ? ["cmd", "/S", "/C"] : ["/bin/sh", "-c"];
}
function initState(ctx, st) {
  if (st.base) {
    const b = st.base;
    st.stateEnv = b.stateEnv;
    st.imageEnv = b.imageEnv;
    st.workdir = b.workdir;
    st.user = b.user;
    st.shell = b.shell;
    st.platform = b.platform;
    st.os = b.os;
    st.buildArgs = [...b.buildArgs];
  } else if (st.baseName !== "scratch") {
    const cfg2 = ctx.imageConfigs[st.baseName] ?? {};
    st.imageEnv = EnvList.fromPairs(envFromStrings(cfg2.env ?? []));
    st.stateEnv = EnvList.empty();
    if (cfg2.workingDir) st.workdir = normalizeWorkdir("", cfg2.workingDir);
    if (cfg2.user) st.user = cfg2.user;
    if (cfg2.shell && cfg2.shell.length) st.shell = [...cfg2.shell];
  }
  st.platform ??= ctx.target;
  st.os = st.platform.os;
  if (!st.imageEnv.has("PATH") && st.os !== "windows") st.imageEnv = st.imageEnv.setInPlace("PATH", DEFAULT_PATH);
  for (const [k, v] of st.imageEnv.toPairs()) st.stateEnv = st.stateEnv.addOrReplace(k, v);
}
function sourceOf(s, fallback) {
  if (!s) return fallback;
  if (s.kind === "stage") return { kind: "stage", index: s.state.index };
  return s;
}
function argsView(st) {
  const order = [];
  const values = /* @__PURE__ */ new Map();
  for (const a of st.buildArgs) {
    if (!values.has(a.key)) order.push(a.key);
    values.set(a.key, st.stateEnv.get(a.key) ?? a.value ?? "");
  }
  return order.map((k) => [k, values.get(k)]);
}
function dispatch2(ctx, st, cmd, stepIndex) {
  const ins = cmd.instruction;
  const used = /* @__PURE__ */ new Set();
  const env = st.stateEnv;
  const ex = (w) => expandWord(ctx, w, env, used);
  const extra = {};
  let out = ins;
  located(ins, () => {
    switch (ins.kind) {
      case "ENV": {
        const kvs = ins.env.map((kv) => ({ ...kv, key: ex(kv.key), value: ex(kv.value) }));
        for (const kv of kvs) {
          st.stateEnv = st.stateEnv.addOrReplace(kv.key, kv.value);
          st.imageEnv = st.imageEnv.setInPlace(kv.key, kv.value);
        }
        out = { ...ins, env: kvs };
        break;
      }
      case "LABEL":
        out = { ...ins, labels: ins.labels.map((kv) => ({ ...kv, key: ex(kv.key), value: ex(kv.value) })) };
        break;
      case "ADD":
      case "COPY": {
        const chown4 = ins.chown !== void 0 ? ex(ins.chown) : void 0;
        const chmod4 = ins.chmod !== void 0 ? ex(ins.chmod) : void 0;
        const checksum = ins.kind === "ADD" && ins.checksum !== void 0 ? ex(ins.checksum) : void 0;
        const sources = ins.sources.map(ex);
        const dest = ex(ins.dest);
        const raw = new ShellLex("\\", { skipProcessQuotes: true });
        const heredocSources = ins.heredocSources.map((h) => {
          if (!h.expand) return h;
          const r = raw.processWordWithMatches(h.data, env.toMap());
          for (const k of r.matched) used.add(k);
          return { ...h, data: r.result };
        });
        const next = { ...ins, sources, dest, heredocSources };
        if (chown4) next.chown = chown4;
        else delete next.chown;
        if (chmod4) {
          next.chmod = chmod4;
          extra.chmod = parseChmod(chmod4);
        } else delete next.chmod;
        if (next.kind === "ADD") {
          if (checksum) next.checksum = checksum;
          else delete next.checksum;
          if (checksum !== void 0 && checksum !== "" && sources.length !== 1) throw fail("E_FLAG", "checksum can't be specified for multiple sources", ins);
        }
        extra.source = ins.kind === "COPY" ? sourceOf(cmd.sources[0], { kind: "context" }) : { kind: "context" };
        if (ins.kind === "COPY" && cmd.sources[0]?.kind === "stage" && !cmd.sources[0].state.dispatched) {
          throw fail("E_UNKNOWN_STAGE", `cannot copy from stage "${ins.from}", it needs to be defined before current stage "${st.displayName}"`, ins);
        }
        out = next;
        break;
      }
      case "WORKDIR": {
        const p = ex(ins.path);
        st.workdir = normalizeWorkdir(st.workdir, p);
        out = { ...ins, path: p };
        break;
      }
      case "USER": {
        const u = ex(ins.user);
        st.user = u;
        out = { ...ins, user: u };
        break;
      }
      case "VOLUME": {
        const volumes = ins.volumes.map(ex);
        if (volumes.some((v) => v === "")) throw fail("E_ARGUMENTS", "VOLUME specified can not be an empty string", ins);
        out = { ...ins, volumes };
        break;
      }
      case "STOPSIGNAL": {
        const signal = ex(ins.signal);
        parseSignal(signal);
        out = { ...ins, signal };
        break;
      }
      case "EXPOSE": {
        const ports = [];
        for (const p of ins.ports) {
          const r = ctx.lex.processWords(p, env.toMap());
          ports.push(...r);
          for (const m of p.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) if (env.has(m[1])) used.add(m[1]);
        }
        extra.exposedPorts = parsePorts(ports);
        out = { ...ins, ports };
        break;
      }
      case "ARG": {
        const args = ins.args.map((a) => {
          ctx.declaredArgs.add(a.key);
          let value = a.value;
          const hasValue = Object.hasOwn(ctx.buildArgs, a.key);
          if (value === void 0 && !hasValue) {
            const g = ctx.globalArgs.get(a.key);
            if (g !== void 0) value = g;
          }
          if (hasValue) value = ctx.buildArgs[a.key];
          else if (a.value !== void 0) value = expandWord(ctx, a.value, st.stateEnv, used);
          if (value !== void 0 && !NON_ENV_ARGS.has(a.key)) st.stateEnv = st.stateEnv.addOrReplace(a.key, value);
          const def = value === void 0 ? { key: a.key } : { key: a.key, value };
          st.buildArgs.push(def);
          used.add(a.key);
          return def;
        });
        out = { ...ins, args };
        break;
      }
      case "SHELL":
        st.shell = [...ins.shell];
        break;
      case "ONBUILD":
        st.onBuildExpressions.push(ins.expression);
        break;
      case "RUN": {
        const mounts = ins.mounts.map((spec, i) => {
          const m = resolveMount(spec, ex);
          const src = cmd.sources[i];
          if (src?.kind === "stage" && !src.state.dispatched) {
            throw fail("E_UNKNOWN_STAGE", `cannot mount from stage "${m.from}" to "${m.target}", stage needs to be defined before current command`, ins);
          }
          let target = m.target;
          if (m.type !== "secret" && m.type !== "ssh") {
            if (!target.startsWith("/")) target = normalizeWorkdir(st.workdir, target);
            if (normalizeWorkdir("/", target) === "/") throw fail("E_FLAG", `invalid mount target "${target}"`, ins);
          }
          const fallback = m.type === "bind" ? { kind: "context" } : m.type === "cache" || m.type === "tmpfs" ? { kind: "scratch" } : { kind: "context" };
          return { ...m, target, sourceRef: sourceOf(src, fallback) };
        });
        extra.mounts = mounts;
        extra.runEnv = st.stateEnv.toPairs();
        const proxy = Object.keys(ctx.buildArgs).sort().filter((k) => PROXY_ARGS.includes(k.toUpperCase())).map((k) => [k, ctx.buildArgs[k]]);
        if (proxy.length) extra.proxyEnv = proxy;
        for (const a of st.buildArgs) used.add(a.key);
        break;
      }
      default:
        break;
    }
  });
  const declared = new Set(st.buildArgs.map((a) => a.key));
  return {
    index: stepIndex,
    kind: ins.kind,
    instruction: out,
    location: ins.location,
    text: ins.text,
    onbuild: cmd.onbuild,
    env: st.imageEnv.toPairs(),
    args: argsView(st),
    usedArgs: [...used].filter((k) => declared.has(k)).sort(),
    workdir: st.workdir,
    user: st.user,
    shell: st.shell ?? defaultShell(st.os),
    ...extra
  };
}
function prepare(dockerfile, options, stopAfterFrom = false) {
  const tree = toTree(dockerfile, options.file);
  const file2 = tree.file;
  const instructions = parseInstructions(tree);
  const { metaArgs, stages } = splitStages(instructions);
  if (stages.length === 0) throw fail("E_NO_FROM", "dockerfile contains no stages to build: add a FROM instruction", void 0);
  const seen = /* @__PURE__ */ new Map();
  for (const s of stages) {
    if (!s.from.stageName) continue;
    const prev = seen.get(s.from.stageName);
    if (prev) {
      throw fail("E_DUPLICATE_STAGE", `duplicate stage name "${s.from.stageName}" (first defined at line ${prev.location.line}); stage names are case-insensitive and must be unique`, s.from);
    }
    seen.set(s.from.stageName, s.from);
  }
  const { target, build: build2 } = platforms(options);
  const buildArgs = options.buildArgs ?? {};
  const targetName = options.target ?? stages[stages.length - 1].from.stageName ?? "";
  const lex = new ShellLex(tree.escapeToken);
  let globalArgs = defaultArgs(target, build2, buildArgs, targetName);
  const declaredArgs = /* @__PURE__ */ new Set();
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      declaredArgs.add(a.key);
      let value;
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
      else if (a.value !== void 0) {
        const v = a.value;
        const env = globalArgs;
        value = located(cmd, () => lex.processWordWithMatches(v, env.toMap()).result);
      }
      if (value !== void 0) globalArgs = globalArgs.addOrReplace(a.key, value);
    }
  }
  const ctx = {
    tree,
    file: file2,
    lex,
    globalArgs,
    buildArgs,
    imageConfigs: options.imageConfigs ?? {},
    states: [],
    byName: /* @__PURE__ */ new Map(),
    target,
    build: build2,
    declaredArgs,
    metaArgNames: metaArgs.flatMap((c) => c.args.map((a) => a.key))
  };
  stages.forEach((s, index) => {
    const from = s.from;
    const baseName = located(from, () => lex.processWordWithMatches(from.image, globalArgs.toMap()).result);
    if (baseName === "") throw fail("E_ARGUMENTS", `base name (${from.image}) should not be blank; set the ARG it uses before the first FROM or pass --build-arg`, from);
    let platform;
    if (from.platform !== void 0) {
      const raw = from.platform;
      const p = located(from, () => lex.processWordWithMatches(raw, globalArgs.toMap()).result);
      if (p === "") throw fail("E_PLATFORM", `empty platform value from expression ${raw}`, from);
      platform = located(from, () => parsePlatform(p, build2), `failed to parse platform ${raw}: `);
    }
    const st = {
      index,
      ...from.stageName ? { name: from.stageName } : {},
      displayName: from.stageName ?? `stage-${index}`,
      from,
      baseName,
      ...platform ? { platform } : {},
      commands: [],
      stageDeps: /* @__PURE__ */ new Map(),
      imageDeps: /* @__PURE__ */ new Set(),
      dispatched: false,
      onBuildInit: false,
      stateEnv: EnvList.empty(),
      imageEnv: EnvList.empty(),
      workdir: "",
      user: "",
      shell: void 0,
      os: (platform ?? target).os,
      buildArgs: [],
      onBuildExpressions: [],
      steps: []
    };
    const base = ctx.byName.get(baseName);
    if (base) st.base = base;
    else if (baseName !== "scratch") located(from, () => normalizeImageReference(baseName), `failed to parse stage name "${baseName}": `);
    ctx.states.push(st);
    if (st.name) ctx.byName.set(st.name, st);
    st.commands = s.commands.map((ins) => ({ instruction: ins, onbuild: false, sources: [] }));
  });
  let targetState;
  if (options.target) {
    const t = ctx.byName.get(options.target.toLowerCase());
    if (!t) {
      const names = ctx.states.flatMap((s) => s.name ? [s.name] : []);
      throw fail("E_TARGET", `${withSuggestion(`target stage "${options.target}" could not be found`, options.target, names)}; stages: ${names.join(", ") || "(none named)"}`, void 0, { target: options.target });
    }
    targetState = t;
  } else {
    targetState = ctx.states[ctx.states.length - 1];
  }
  if (stopAfterFrom) return { ctx, metaArgs, targetState };
  for (const st of ctx.states) {
    st.commands = st.commands.map((c) => {
      const cmd = toCommand(ctx, c.instruction, false);
      addDeps(st, cmd);
      return cmd;
    });
  }
  checkCycles(ctx.states);
  return { ctx, metaArgs, targetState };
}
function createBuildGraph(dockerfile, options = {}) {
  const { ctx, targetState } = prepare(dockerfile, options);
  let all;
  for (; ; ) {
    all = reachable(targetState);
    let newDeps = false;
    for (const st of ctx.states) {
      if (!all.has(st) || st.onBuildInit) continue;
      st.onBuildInit = true;
      const triggers = st.base ? st.base.commands.flatMap((c) => c.instruction.kind === "ONBUILD" && !c.onbuild ? [c.instruction.expression] : []) : st.baseName !== "scratch" ? [...ctx.imageConfigs[st.baseName]?.onBuild ?? []] : [];
      if (triggers.length && initOnBuild(ctx, st, triggers)) newDeps = true;
    }
    if (!newDeps) break;
  }
  checkCycles(ctx.states);
  for (const st of ctx.states) {
    if (!all.has(st)) continue;
    initState(ctx, st);
    st.steps = st.commands.map((cmd, i) => dispatch2(ctx, st, cmd, i));
    st.dispatched = true;
  }
  const stages = ctx.states.filter((s) => all.has(s)).map((s) => {
    const base = s.base ? { kind: "stage", index: s.base.index } : s.baseName === "scratch" ? { kind: "scratch" } : { kind: "image", ref: s.baseName, normalizedRef: normalizeImageReference(s.baseName) };
    const deps = /* @__PURE__ */ new Set([...s.base ? [s.base.index] : [], ...[...s.stageDeps.keys()].map((d) => d.index)]);
    return {
      index: s.index,
      ...s.name ? { name: s.name } : {},
      base,
      platform: resolved(s.platform ?? ctx.target),
      steps: s.steps,
      dependsOn: [...deps].sort((a, b) => a - b),
      imageDependencies: [...s.imageDeps].sort(),
      location: s.from.location,
      text: s.from.text
    };
  });
  const predefined = /* @__PURE__ */ new Set([
    ...PROXY_ARGS,
    ...PROXY_ARGS.map((k) => k.toLowerCase()),
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
    "SOURCE_DATE_EPOCH"
  ]);
  const unusedBuildArgs = Object.keys(ctx.buildArgs).filter((k) => !ctx.declaredArgs.has(k) && !predefined.has(k) && !k.startsWith("BUILDKIT_")).sort();
  return {
    stages,
    target: targetState.index,
    globalArgs: ctx.globalArgs.toPairs().filter(([k]) => ctx.metaArgNames.includes(k)),
    platform: { target: resolved(ctx.target), build: resolved(ctx.build) },
    unusedBuildArgs,
    file: ctx.file
  };
}
function listBaseImages(dockerfile, options = {}) {
  const { ctx } = prepare(dockerfile, { ...options, target: void 0 }, true);
  return ctx.states.filter((s) => !s.base && s.baseName !== "scratch").map((s) => ({
    ref: s.baseName,
    normalizedRef: normalizeImageReference(s.baseName),
    ...s.platform ? { platform: formatPlatform(s.platform) } : {},
    stage: s.index
  }));
}

// packages/builder/src/platform.ts
var NODE_ARCH = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips64el: "mips64le"
};
function hostPlatform() {
  const n = normalizePlatform({ os: process.platform === "win32" ? "windows" : process.platform, architecture: NODE_ARCH[process.arch] ?? process.arch });
  return n.variant ? { os: n.os, architecture: n.architecture, variant: n.variant } : { os: n.os, architecture: n.architecture };
}
function hostPlatformString() {
  return formatPlatform2(hostPlatform());
}
function parsePlatform2(spec) {
  const p = parsePlatform(spec, hostPlatform());
  return { os: p.os, architecture: p.architecture, ...p.variant ? { variant: p.variant } : {}, ...p.osVersion ? { "os.version": p.osVersion } : {} };
}
function formatPlatform2(p) {
  if (!p) return "unknown";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}
var VARIANT_ORDER = {
  // What each variant can also run, best first (containerd's Only()).
  "arm/v8": ["v8", "v7", "v6", "v5"],
  "arm/v7": ["v7", "v6", "v5"],
  "arm/v6": ["v6", "v5"],
  "amd64/v4": ["v4", "v3", "v2", ""],
  "amd64/v3": ["v3", "v2", ""],
  "amd64/v2": ["v2", ""]
};
function normalized(p) {
  const n = normalizePlatform({ os: p.os, architecture: p.architecture, ...p.variant ? { variant: p.variant } : {} });
  return { os: n.os, architecture: n.architecture, variant: n.variant ?? "" };
}
function platformRank(wanted, candidate) {
  if (!candidate?.os || !candidate.architecture) return void 0;
  const w = normalized(wanted);
  const c = normalized(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return void 0;
  if (wanted["os.version"] && candidate["os.version"] && wanted["os.version"] !== candidate["os.version"]) return void 0;
  if (w.variant === c.variant) return 0;
  const order = VARIANT_ORDER[`${w.architecture}/${w.variant}`];
  const i = order ? order.indexOf(c.variant) : -1;
  return i > 0 ? i : void 0;
}

// packages/builder/src/registry/transport.ts
var import_node_stream11 = require("node:stream");

// packages/builder/src/registry/challenge.ts
function parseChallenge(header) {
  if (!header) return void 0;
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s+((?:[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/g;
  for (let m = re.exec(header); m; m = re.exec(header)) {
    const scheme = m[1].toLowerCase();
    if (scheme !== "basic" && scheme !== "bearer") continue;
    const params = {};
    const pre = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
    for (let p = pre.exec(m[2]); p; p = pre.exec(m[2])) {
      params[p[1].toLowerCase()] = p[2] !== void 0 ? p[2].replace(/\\(.)/g, "$1") : p[3] ?? "";
    }
    return { scheme, params };
  }
  return void 0;
}

// packages/builder/src/registry/transport.ts
var RETRY_STATUS = /* @__PURE__ */ new Set([408, 429, 500, 502, 503, 504]);
var RETRY_CODES = /* @__PURE__ */ new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "EAI_AGAIN"]);
var TLS_PLAIN_HTTP = /wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|http request/i;
var TLS_UNTRUSTED = /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_|certificate/i;
function isLoopbackHost(host) {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name);
}
function errorCode(e) {
  let cur = e;
  for (let i = 0; i < 5 && cur; i++) {
    const c = cur.code;
    if (typeof c === "string" && c !== "E_REGISTRY") return c;
    cur = cur.cause;
  }
  return "";
}
function errorText(e) {
  const parts = [];
  let cur = e;
  for (let i = 0; i < 5 && cur; i++) {
    const m = cur.message;
    if (typeof m === "string" && !parts.includes(m)) parts.push(m);
    cur = cur.cause;
  }
  return parts.map((m) => /SSL routines:[^:]*:([^:]+)/.exec(m)?.[1] ?? m).join(": ").replace(/\s+/g, " ").trim();
}
function sleep2(ms, signal) {
  return new Promise((resolve5, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve5();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
async function readRegistryErrors(res) {
  let text = "";
  try {
    text = await res.text();
  } catch {
    return { codes: [], text: "" };
  }
  try {
    const body = JSON.parse(text);
    const errs = body.errors ?? [];
    return {
      codes: errs.map((x) => x.code ?? "").filter(Boolean),
      text: errs.map((x) => [x.code, x.message].filter(Boolean).join(": ")).join("; ")
    };
  } catch {
    return { codes: [], text: text.slice(0, 200) };
  }
}
var RegistryTransport = class {
  constructor(options) {
    this.options = options;
    this.insecure = new Set(options.insecureRegistries ?? []);
  }
  options;
  challenges = /* @__PURE__ */ new Map();
  tokens = /* @__PURE__ */ new Map();
  credentials = /* @__PURE__ */ new Map();
  insecure;
  /** The endpoint of a registry itself (not a mirror). */
  endpointFor(registry) {
    const host = registryApiHost(registry);
    const scheme = this.isPlainHttp(registry) || this.isPlainHttp(host) ? "http" : "https";
    return { registry, base: `${scheme}://${host}`, host, mirror: false };
  }
  /** An endpoint for a mirror given as `host[:port][/path]` or a full `http(s)://` URL. */
  mirrorEndpoint(registry, mirror) {
    const withScheme = /^https?:\/\//.test(mirror) ? mirror : `${this.isPlainHttp(mirror.split("/")[0]) ? "http" : "https"}://${mirror}`;
    const u = new URL(withScheme);
    const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "").replace(/\/v2$/, "")}`;
    return { registry, base, host: u.host, mirror: true };
  }
  isPlainHttp(host) {
    return isLoopbackHost(host) || this.insecure.has(host);
  }
  creds(host) {
    let p = this.credentials.get(host);
    if (!p) {
      p = this.options.auth ? this.options.auth.get(host) : Promise.resolve(void 0);
      this.credentials.set(host, p);
    }
    return p;
  }
  /** The Authorization header for a request, when the endpoint's challenge is known. */
  async authorization(ep, scopes, image) {
    const challenge = this.challenges.get(ep.base);
    if (!challenge) return void 0;
    const creds = await this.creds(credentialKey(ep));
    if (challenge.scheme === "basic") {
      if (!creds?.username && !creds?.password) return void 0;
      return `Basic ${Buffer.from(`${creds.username ?? ""}:${creds.password ?? ""}`).toString("base64")}`;
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const wanted = scopes.length > 0 ? scopes : challenge.params.scope ? challenge.params.scope.split(" ") : [];
    const key = `${ep.base}
${[...new Set(wanted)].sort().join(" ")}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const entry = await this.fetchToken(ep, challenge, wanted, creds, image);
    this.tokens.set(key, entry);
    return `Bearer ${entry.token}`;
  }
  async fetchToken(ep, challenge, scopes, creds, image) {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError(`registry ${ep.host} sent a Bearer challenge without a realm; cannot authenticate for ${image}`, {
        image,
        registry: ep.registry,
        reason: "protocol"
      });
    }
    const url = new URL(realm);
    const headers = { "user-agent": this.userAgent };
    let init;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "build-image" });
      if (challenge.params.service) form.set("service", challenge.params.service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      init = { method: "POST", headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, body: form.toString() };
    } else {
      if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (creds?.username || creds?.password) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username ?? ""}:${creds.password ?? ""}`).toString("base64")}`;
      }
      init = { method: "GET", headers };
    }
    const res = await this.fetchWithRetry(url.toString(), init, { registry: ep.registry, image, host: url.host }, true);
    if (res.status === 401 || res.status === 403) {
      await res.arrayBuffer().catch(() => void 0);
      throw authError(ep, image, res.status, creds, "the token server rejected the credentials");
    }
    if (!res.ok) {
      const { text } = await readRegistryErrors(res);
      throw new RegistryError(`token server ${url.host} answered ${res.status} for ${image}${text ? `: ${text}` : ""}`, {
        image,
        registry: ep.registry,
        status: res.status,
        reason: "http"
      });
    }
    const body = await res.json();
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`token server ${url.host} returned no token for ${image}`, { image, registry: ep.registry, reason: "protocol" });
    }
    const lifetime = Math.max(10, (body.expires_in ?? 60) - 5) * 1e3;
    return { token, expiresAt: Date.now() + lifetime };
  }
  get userAgent() {
    return this.options.userAgent ?? "build-image/0.1";
  }
  /**
   * Sends a request with authentication (answering one 401 challenge) and retries. The response
   * body is left for the caller to consume; 401 after authenticating becomes a RegistryError.
   */
  async request(ep, req) {
    const url = /^https?:\/\//.test(req.url) ? req.url : `${ep.base}${req.url}`;
    const replayable = !req.body || req.body.kind === "bytes" || req.body.replayable;
    for (let attempt = 0; ; attempt++) {
      const authz = await this.authorization(ep, req.scopes, req.image);
      const headers = { "user-agent": this.userAgent, ...req.headers };
      if (authz) headers.authorization = authz;
      const res = await this.fetchWithRetry(url, () => this.init(req, headers), { registry: ep.registry, image: req.image, host: ep.host }, replayable);
      if (res.status !== 401) return res;
      const challenge = parseChallenge(res.headers.get("www-authenticate"));
      await res.arrayBuffer().catch(() => void 0);
      const creds = await this.creds(credentialKey(ep));
      if (challenge) this.challenges.set(ep.base, challenge);
      if (attempt === 0 && challenge && replayable) {
        if (!authz) continue;
        if (challenge.scheme === "bearer") {
          for (const k of this.tokens.keys()) if (k.startsWith(`${ep.base}
`)) this.tokens.delete(k);
          continue;
        }
      }
      throw authError(ep, req.image, 401, creds, void 0, challenge?.params.error);
    }
  }
  init(req, headers) {
    const init = { method: req.method, headers, redirect: "follow" };
    if (this.options.signal) init.signal = this.options.signal;
    if (req.body?.kind === "bytes") init.body = typeof req.body.data === "string" ? req.body.data : Buffer.from(req.body.data);
    else if (req.body?.kind === "stream") {
      const src = req.body.open();
      const readable = src instanceof import_node_stream11.Readable ? src : import_node_stream11.Readable.from(src);
      init.body = import_node_stream11.Readable.toWeb(readable);
      init.duplex = "half";
    }
    return init;
  }
  /** fetch with retries on 408/429/5xx and connection errors; maps TLS and network failures. */
  async fetchWithRetry(url, init, ctx, replayable) {
    const retries = replayable ? this.options.retries ?? 4 : 0;
    const base = this.options.retryBaseDelayMs ?? 250;
    const max = this.options.retryMaxDelayMs ?? 3e4;
    for (let attempt = 0; ; attempt++) {
      const reqInit = typeof init === "function" ? init() : init;
      if (this.options.signal && !reqInit.signal) reqInit.signal = this.options.signal;
      let res;
      try {
        res = await fetch(url, reqInit);
      } catch (e) {
        if (this.options.signal?.aborted) throw e;
        const code = errorCode(e);
        const text = errorText(e);
        if (url.startsWith("https:") && TLS_PLAIN_HTTP.test(`${code} ${text}`)) {
          throw new RegistryError(
            `cannot talk HTTPS to ${ctx.host} for ${ctx.image} (${text}): it looks like a plain-HTTP registry; allow it with --insecure-registry ${ctx.host}`,
            { image: ctx.image, registry: ctx.registry, reason: "tls", host: ctx.host },
            e
          );
        }
        if (url.startsWith("https:") && TLS_UNTRUSTED.test(`${code} ${text}`)) {
          throw new RegistryError(
            `TLS certificate of ${ctx.host} is not trusted (${text}) while fetching ${ctx.image}: add its CA with NODE_EXTRA_CA_CERTS, or use --insecure-registry ${ctx.host} for plain HTTP`,
            { image: ctx.image, registry: ctx.registry, reason: "tls", host: ctx.host },
            e
          );
        }
        if (attempt < retries && (RETRY_CODES.has(code) || /other side closed|socket hang up/i.test(text))) {
          await sleep2(Math.min(max, base * 2 ** attempt), this.options.signal);
          continue;
        }
        throw new RegistryError(`cannot reach registry ${ctx.host} for ${ctx.image}: ${text}`, {
          image: ctx.image,
          registry: ctx.registry,
          reason: "network",
          host: ctx.host,
          errno: code
        }, e);
      }
      if (attempt < retries && RETRY_STATUS.has(res.status)) {
        const delay = retryAfter(res.headers.get("retry-after")) ?? base * 2 ** attempt;
        await res.arrayBuffer().catch(() => void 0);
        await sleep2(Math.min(max, delay), this.options.signal);
        continue;
      }
      return res;
    }
  }
};
function retryAfter(value) {
  if (!value) return void 0;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1e3;
  const t = Date.parse(value);
  return Number.isNaN(t) ? void 0 : Math.max(0, t - Date.now());
}
function authError(ep, image, status, creds, what, challengeError) {
  const hasCreds = !!(creds && (creds.username || creds.password || creds.identityToken || creds.registryToken));
  const maybeMissing = challengeError === "insufficient_scope" ? " (registries also answer this way when the repository does not exist)" : "";
  const message = hasCreds ? `authentication failed for ${image}: ${what ?? `${ep.host} rejected the credentials${creds?.username ? ` of ${creds.username}` : ""} or they do not grant access`}; run docker login ${ep.registry} or check ~/.docker/config.json${maybeMissing}` : `authentication required for ${image}: run docker login ${ep.registry} or check ~/.docker/config.json${maybeMissing}`;
  return new RegistryError(message, {
    image,
    registry: ep.registry,
    status,
    reason: "unauthorized",
    host: ep.host,
    ...challengeError ? { challengeError } : {}
  });
}
function credentialKey(ep) {
  return ep.mirror ? ep.host : ep.registry;
}

// packages/builder/src/registry/client.ts
function toRef(r) {
  return typeof r === "string" ? parseReference(r) : r;
}
function refText(ref) {
  return formatReference(ref);
}
function repoPath(ref) {
  return ref.repository.split("/").map(encodeURIComponent).join("/");
}
var RegistryClient = class {
  constructor(options = {}) {
    this.options = options;
    this.transport = new RegistryTransport(options);
    this.concurrency = Math.max(1, options.concurrency ?? 3);
    this.threshold = options.chunkedUploadThreshold ?? 64 * 1024 * 1024;
    this.chunkSize = Math.max(1, options.chunkSize ?? 16 * 1024 * 1024);
  }
  options;
  transport;
  concurrency;
  threshold;
  chunkSize;
  /** Blobs seen per registry repository, so later pushes to a sibling repository can mount them. */
  knownBlobs = /* @__PURE__ */ new Map();
  // ------------------------------------------------------------------------------------------
  // Pull
  /** Endpoints to pull from: mirrors first, then the registry itself. */
  pullEndpoints(ref) {
    const mirrors = this.options.mirrors?.[ref.registry] ?? [];
    return [...mirrors.map((m) => this.transport.mirrorEndpoint(ref.registry, m)), this.transport.endpointFor(ref.registry)];
  }
  fail(ref, message, details, cause) {
    return new RegistryError(message, { image: refText(ref), registry: ref.registry, ...details }, cause);
  }
  /** Turns a non-success answer into a RegistryError that names the image and registry. */
  async httpError(ref, res, what, ep) {
    const { codes, text } = await readRegistryErrors(res);
    const image = refText(ref);
    const where = ep.mirror ? `mirror ${ep.host} of ${ref.registry}` : ref.registry;
    const base = { status: res.status, registryCodes: codes, host: ep.host };
    if (res.status === 404) {
      return this.fail(ref, `image ${image} not found: ${where} has no ${what}${text ? ` (${text})` : ""}`, { ...base, reason: "not-found" });
    }
    if (res.status === 403) {
      return this.fail(ref, `access to ${image} denied by ${where} while fetching ${what}${text ? ` (${text})` : ""}: check that your account may access this repository (docker login ${ref.registry})`, {
        ...base,
        reason: "denied"
      });
    }
    return this.fail(ref, `${where} answered ${res.status} ${res.statusText} for ${what} of ${image}${text ? `: ${text}` : ""}`, { ...base, reason: "http" });
  }
  mismatch(ref, what, digest) {
    return (f) => this.fail(
      ref,
      f.kind === "digest" ? `digest mismatch for ${what} ${digest} of ${refText(ref)} from ${ref.registry}: got ${f.actual}; the registry or a proxy returned corrupt content` : `size mismatch for ${what} ${digest} of ${refText(ref)} from ${ref.registry}: expected ${f.expected} bytes, got ${f.actual}`,
      { reason: f.kind === "digest" ? "digest-mismatch" : "size-mismatch", expected: f.expected, actual: f.actual, digest }
    );
  }
  /** GETs a manifest by tag or digest, verifying it against the digest when one is known. */
  async fetchManifest(ep, ref, reference, expected) {
    const res = await this.transport.request(ep, {
      method: "GET",
      url: `/v2/${repoPath(ref)}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [`repository:${ref.repository}:pull`],
      image: refText(ref)
    });
    if (!res.ok) throw await this.httpError(ref, res, `manifest ${reference}`, ep);
    const bytes = Buffer.from(await res.arrayBuffer());
    const pinned = expected?.digest ?? (isSupportedDigest(reference) ? reference : void 0);
    const headerDigest = res.headers.get("docker-content-digest") ?? void 0;
    const check = pinned ?? (isSupportedDigest(headerDigest) ? headerDigest : void 0);
    const digest = check ? digestLike(check, bytes) : sha256Digest(bytes);
    if (check && digest !== check) {
      throw this.mismatch(ref, "manifest", check)({ kind: "digest", expected: check, actual: digest });
    }
    if (expected && expected.size !== bytes.length) {
      throw this.mismatch(ref, "manifest", expected.digest)({ kind: "size", expected: expected.size, actual: bytes.length });
    }
    let parsed2;
    try {
      parsed2 = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw this.fail(ref, `manifest ${reference} of ${refText(ref)} is not valid JSON`, { reason: "protocol" }, e);
    }
    const contentType = res.headers.get("content-type")?.split(";")[0]?.trim();
    let mediaType = parsed2.mediaType ?? (contentType && contentType !== "application/json" ? contentType : void 0) ?? expected?.mediaType;
    if (!mediaType) mediaType = Array.isArray(parsed2.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
    if (mediaType === MediaType.DockerSchema1 || mediaType === MediaType.DockerSchema1Signed || parsed2.schemaVersion === 1) {
      throw this.fail(ref, `${refText(ref)} uses the Docker image manifest schema 1, which is no longer supported: rebuild or re-push the image with a current tool`, { reason: "unsupported" });
    }
    return { bytes, digest, mediaType };
  }
  /** GETs a small blob (config) and verifies it. */
  async fetchSmallBlob(ep, ref, desc, what) {
    const res = await this.transport.request(ep, {
      method: "GET",
      url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
      scopes: [`repository:${ref.repository}:pull`],
      image: refText(ref)
    });
    if (!res.ok) throw await this.httpError(ref, res, `${what} ${desc.digest}`, ep);
    const bytes = Buffer.from(await res.arrayBuffer());
    const actual = digestLike(desc.digest, bytes);
    if (bytes.length !== desc.size) throw this.mismatch(ref, what, desc.digest)({ kind: "size", expected: desc.size, actual: bytes.length });
    if (actual !== desc.digest) throw this.mismatch(ref, what, desc.digest)({ kind: "digest", expected: desc.digest, actual });
    return bytes;
  }
  /**
   * Resolves a reference to one image manifest for `platform` (default: this host's), fetching and
   * verifying the index (if any), the manifest and the config.
   *
   * @throws RegistryError `not-found`, `unauthorized`, `denied`, `platform` (no index entry fits),
   *   `digest-mismatch`, `tls`, `network`.
   * @example `const img = await client.resolve('busybox:1.36', 'linux/arm64')`
   */
  async resolve(reference, platform) {
    const ref = toRef(reference);
    const want = platform === void 0 ? hostPlatform() : typeof platform === "string" ? parsePlatform2(platform) : platform;
    const endpoints = this.pullEndpoints(ref);
    let lastError;
    for (const ep of endpoints) {
      try {
        return await this.resolveAt(ep, ref, want);
      } catch (e) {
        lastError = e;
        const reason = e.data?.reason;
        if (!ep.mirror || reason === "platform" || reason === "unsupported") throw e;
      }
    }
    throw lastError;
  }
  async resolveAt(ep, ref, want) {
    const top = await this.fetchManifest(ep, ref, ref.digest ?? ref.tag ?? "latest");
    let result = { ref, source: ep.base };
    let manifest = top;
    let manifestDescriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    let platformOfEntry;
    if (isIndexMediaType(top.mediaType)) {
      const index = JSON.parse(top.bytes.toString("utf8"));
      result = { ...result, index, indexDigest: top.digest, indexBytes: top.bytes, indexMediaType: top.mediaType };
      const chosen = selectPlatform(index, want) ?? await this.selectByConfig(ep, ref, index, want);
      if (!chosen) {
        const available = [...new Set(index.manifests.filter((m) => m.platform && m.platform.os !== "unknown").map((m) => formatPlatform2(m.platform)))];
        throw this.fail(ref, `no match for platform ${formatPlatform2(want)} in ${refText(ref)} (available: ${available.join(", ") || "none"})`, {
          reason: "platform",
          platform: formatPlatform2(want),
          available
        });
      }
      platformOfEntry = chosen.platform;
      manifestDescriptor = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
      if (chosen.platform) manifestDescriptor.platform = chosen.platform;
      manifest = await this.fetchManifest(ep, ref, chosen.digest, chosen);
      if (isIndexMediaType(manifest.mediaType)) {
        throw this.fail(ref, `${refText(ref)}: nested image indexes are not supported`, { reason: "unsupported" });
      }
    }
    if (!isManifestMediaType(manifest.mediaType)) {
      throw this.fail(ref, `${refText(ref)} is not a container image (manifest media type ${manifest.mediaType})`, { reason: "unsupported" });
    }
    const parsed2 = JSON.parse(manifest.bytes.toString("utf8"));
    if (!parsed2.config || !Array.isArray(parsed2.layers)) {
      throw this.fail(ref, `manifest ${manifest.digest} of ${refText(ref)} has no config or layers`, { reason: "protocol" });
    }
    const configBytes = await this.fetchSmallBlob(ep, ref, parsed2.config, "config");
    const config = JSON.parse(configBytes.toString("utf8"));
    const platform = platformOfEntry ?? {
      os: config.os ?? want.os,
      architecture: config.architecture ?? want.architecture,
      ...config.variant ? { variant: config.variant } : {}
    };
    return {
      ...result,
      manifestDigest: manifest.digest,
      manifestDescriptor,
      manifestBytes: manifest.bytes,
      manifest: parsed2,
      configDescriptor: parsed2.config,
      configBytes,
      config,
      layers: parsed2.layers,
      platform
    };
  }
  /**
   * Index entries without a `platform` match by their config's os/architecture, as containerd
   * does; only consulted when no entry declares a fitting platform.
   */
  async selectByConfig(ep, ref, index, want) {
    let best;
    for (const m of index.manifests ?? []) {
      if (m.platform || !isManifestMediaType(m.mediaType)) continue;
      const child = await this.fetchManifest(ep, ref, m.digest, m);
      const parsed2 = JSON.parse(child.bytes.toString("utf8"));
      if (!parsed2.config || parsed2.config.mediaType === "application/vnd.in-toto+json") continue;
      const config = JSON.parse((await this.fetchSmallBlob(ep, ref, parsed2.config, "config")).toString("utf8"));
      if (!config.os || !config.architecture) continue;
      const platform = { os: config.os, architecture: config.architecture, ...config.variant ? { variant: config.variant } : {} };
      const rank = platformRank(want, platform);
      if (rank !== void 0 && (!best || rank < best.rank)) best = { rank, desc: { ...m, platform } };
    }
    return best?.desc;
  }
  /**
   * Streams one blob into `store`, verifying digest and size; does nothing when the store has it.
   * Retries the whole download on connection errors; tries mirrors first.
   */
  async pullBlob(reference, descriptor, store, source) {
    const ref = toRef(reference);
    if (await store.has(descriptor.digest)) return;
    const endpoints = this.pullEndpoints(ref);
    const ordered = source ? [...endpoints.filter((e) => e.base === source), ...endpoints.filter((e) => e.base !== source)] : endpoints;
    let lastError;
    for (const ep of ordered) {
      try {
        return await this.pullBlobAt(ep, ref, descriptor, store);
      } catch (e) {
        lastError = e;
        const reason = e.data?.reason;
        if (!ep.mirror || reason === "digest-mismatch" || reason === "size-mismatch") throw e;
      }
    }
    throw lastError;
  }
  async pullBlobAt(ep, ref, desc, store) {
    const retries = this.options.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      const res = await this.transport.request(ep, {
        method: "GET",
        url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
        scopes: [`repository:${ref.repository}:pull`],
        image: refText(ref)
      });
      if (!res.ok || !res.body) throw await this.httpError(ref, res, `blob ${desc.digest}`, ep);
      const verify = verifyingStream(desc.digest, desc.size, this.mismatch(ref, "blob", desc.digest));
      const body = import_node_stream12.Readable.fromWeb(res.body);
      try {
        const results = await Promise.allSettled([(0, import_promises18.pipeline)(body, verify), store.put(verify, { expected: desc.digest, size: desc.size })]);
        const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
        if (failures.length === 0) return;
        throw failures.find((f) => RegistryError.is(f) && f.code === "E_REGISTRY") ?? failures[0];
      } catch (e) {
        if (RegistryError.is(e) && e.code === "E_REGISTRY") throw e;
        const text = String(e?.message ?? e);
        const transient = /terminated|ECONNRESET|other side closed|socket|aborted/i.test(text) && !this.options.signal?.aborted;
        if (transient && attempt < retries) continue;
        if (transient) {
          throw this.fail(ref, `download of blob ${desc.digest} of ${refText(ref)} from ${ep.host} kept failing: ${text}`, { reason: "network" }, e);
        }
        throw e;
      }
    }
  }
  /**
   * Resolves the image and stores index (if any), manifest, config and layers in `store`, with at
   * most `concurrency` layer downloads at a time.
   * @example `await client.pullImage('busybox', 'linux/amd64', store)`
   */
  async pullImage(reference, platform, store) {
    const resolved2 = await this.resolve(reference, platform);
    if (resolved2.indexBytes) await store.putBytes(resolved2.indexBytes, { expected: resolved2.indexDigest });
    await store.putBytes(resolved2.manifestBytes, { expected: resolved2.manifestDigest });
    await store.putBytes(resolved2.configBytes, { expected: resolved2.configDescriptor.digest });
    const limit = pLimit(this.concurrency);
    await Promise.all(resolved2.layers.map((l) => limit(() => this.pullBlob(resolved2.ref, l, store, resolved2.source))));
    return resolved2;
  }
  // ------------------------------------------------------------------------------------------
  // Push
  pushScopes(ref, extra = []) {
    return [`repository:${ref.repository}:pull,push`, ...extra];
  }
  remember(ref, digest) {
    const key = `${ref.registry}/${ref.repository}`;
    let set = this.knownBlobs.get(key);
    if (!set) this.knownBlobs.set(key, set = /* @__PURE__ */ new Set());
    set.add(digest);
  }
  /** Repositories on `ref`'s registry known to hold `digest` (hints first, then what this client saw). */
  mountSources(ref, digest, options) {
    const out = [];
    for (const hint of options.mountFrom?.[digest] ?? []) {
      let r;
      if (typeof hint === "string") {
        try {
          r = parseReference(hint);
        } catch {
          continue;
        }
      } else r = hint;
      if (r.registry === ref.registry && r.repository !== ref.repository) out.push(r.repository);
    }
    for (const [key, set] of this.knownBlobs) {
      const prefix = `${ref.registry}/`;
      if (key.startsWith(prefix) && set.has(digest)) {
        const repo = key.slice(prefix.length);
        if (repo !== ref.repository) out.push(repo);
      }
    }
    return [...new Set(out)];
  }
  /**
   * Makes one blob present in `ref`'s repository: skipped when the registry has it, mounted from a
   * sibling repository when possible, else uploaded from the store (chunked when large).
   */
  async pushBlob(reference, desc, store, options = {}) {
    const ref = toRef(reference);
    const ep = this.transport.endpointFor(ref.registry);
    const head = await this.transport.request(ep, {
      method: "HEAD",
      url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
      scopes: this.pushScopes(ref),
      image: refText(ref)
    });
    await head.arrayBuffer().catch(() => void 0);
    if (head.ok) {
      this.remember(ref, desc.digest);
      return "exists";
    }
    if (head.status !== 404) throw await this.httpError(ref, head, `blob ${desc.digest}`, ep);
    let location;
    for (const from of this.mountSources(ref, desc.digest, options)) {
      const res = await this.transport.request(ep, {
        method: "POST",
        url: `/v2/${repoPath(ref)}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
        headers: { "content-length": "0" },
        scopes: this.pushScopes(ref, [`repository:${from}:pull`]),
        image: refText(ref)
      });
      await res.arrayBuffer().catch(() => void 0);
      if (res.status === 201) {
        this.remember(ref, desc.digest);
        return "mounted";
      }
      if (res.status === 202) {
        location = res.headers.get("location") ?? void 0;
        break;
      }
    }
    const outcome = await this.uploadBlob(ep, ref, desc, store, location);
    this.remember(ref, desc.digest);
    return outcome;
  }
  async startUpload(ep, ref) {
    const res = await this.transport.request(ep, {
      method: "POST",
      url: `/v2/${repoPath(ref)}/blobs/uploads/`,
      headers: { "content-length": "0" },
      scopes: this.pushScopes(ref),
      image: refText(ref)
    });
    await res.arrayBuffer().catch(() => void 0);
    if (res.status !== 202) throw await this.httpError(ref, res, "upload session", ep);
    return this.location(ep, ref, res);
  }
  location(ep, ref, res) {
    const loc = res.headers.get("location");
    if (!loc) throw this.fail(ref, `${ref.registry} did not say where to upload (no Location header)`, { reason: "protocol", status: res.status });
    return new URL(loc, `${ep.base}/`).toString();
  }
  withDigest(location, digest) {
    const u = new URL(location);
    u.searchParams.set("digest", digest);
    return u.toString();
  }
  async uploadBlob(ep, ref, desc, store, session) {
    const retries = this.options.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      if (!await store.has(desc.digest)) {
        throw this.fail(ref, `cannot push ${refText(ref)}: blob ${desc.digest} is not in the local content store (was it pulled or built here?)`, {
          reason: "local-blob-missing",
          digest: desc.digest
        });
      }
      try {
        const location = attempt === 0 && session ? new URL(session, `${ep.base}/`).toString() : await this.startUpload(ep, ref);
        if (desc.size > this.threshold) {
          await this.uploadChunked(ep, ref, desc, store, location);
          return "uploaded-chunked";
        }
        const res = await this.transport.request(ep, {
          method: "PUT",
          url: this.withDigest(location, desc.digest),
          headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
          body: { kind: "stream", open: () => store.get(desc.digest), replayable: false },
          scopes: this.pushScopes(ref),
          image: refText(ref)
        });
        await this.expectCreated(ep, ref, res, desc);
        return "uploaded";
      } catch (e) {
        const reason = e.data?.reason;
        const retryable = reason === "network" || reason === "http" && (e.status >= 500 || e.status === 429);
        if (!retryable || attempt >= retries) throw e;
      }
    }
  }
  async uploadChunked(ep, ref, desc, store, start2) {
    const reader = new ChunkReader(store.get(desc.digest));
    let location = start2;
    let offset = 0;
    try {
      while (offset < desc.size) {
        const length = Math.min(this.chunkSize, desc.size - offset);
        const res2 = await this.transport.request(ep, {
          method: "PATCH",
          url: location,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(length),
            "content-range": `${offset}-${offset + length - 1}`
          },
          body: { kind: "stream", open: () => reader.take(length), replayable: false },
          scopes: this.pushScopes(ref),
          image: refText(ref)
        });
        await res2.arrayBuffer().catch(() => void 0);
        if (res2.status !== 202) throw await this.httpError(ref, res2, `upload chunk at ${offset} of blob ${desc.digest}`, ep);
        location = this.location(ep, ref, res2);
        offset += length;
      }
    } finally {
      reader.close();
    }
    const res = await this.transport.request(ep, {
      method: "PUT",
      url: this.withDigest(location, desc.digest),
      headers: { "content-length": "0" },
      scopes: this.pushScopes(ref),
      image: refText(ref)
    });
    await this.expectCreated(ep, ref, res, desc);
  }
  async expectCreated(ep, ref, res, desc) {
    if (res.status !== 201) {
      const err = await this.httpError(ref, res, `upload of blob ${desc.digest}`, ep);
      if (err.data.registryCodes?.includes("DIGEST_INVALID")) {
        throw this.fail(ref, `${ref.registry} rejected blob ${desc.digest} of ${refText(ref)}: the uploaded bytes do not match the digest (corrupt local store?)`, {
          reason: "digest-mismatch",
          status: res.status,
          digest: desc.digest
        });
      }
      throw err;
    }
    await res.arrayBuffer().catch(() => void 0);
    const got = res.headers.get("docker-content-digest");
    if (got && isSupportedDigest(got) && got !== desc.digest) {
      throw this.fail(ref, `${ref.registry} stored blob ${desc.digest} of ${refText(ref)} as ${got}`, { reason: "digest-mismatch", digest: desc.digest, actual: got });
    }
  }
  /**
   * PUTs manifest (or index) bytes as `ref`'s tag, or by digest when `ref` has only a digest.
   * Returns the digest, verified against the registry's `Docker-Content-Digest` when sent.
   */
  async pushManifest(reference, bytes, mediaType) {
    const ref = toRef(reference);
    const ep = this.transport.endpointFor(ref.registry);
    const digest = sha256Digest(bytes);
    if (ref.digest && ref.digest !== digest) {
      throw this.fail(ref, `cannot push manifest ${digest} as ${refText(ref)}: the reference pins a different digest`, { reason: "digest-mismatch", digest });
    }
    const target = ref.tag ?? digest;
    const res = await this.transport.request(ep, {
      method: "PUT",
      url: `/v2/${repoPath(ref)}/manifests/${target}`,
      headers: { "content-type": mediaType },
      body: { kind: "bytes", data: bytes },
      scopes: this.pushScopes(ref),
      image: refText(ref)
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.httpError(ref, res, `manifest upload (${target})`, ep);
    await res.arrayBuffer().catch(() => void 0);
    const got = res.headers.get("docker-content-digest");
    if (got && isSupportedDigest(got) && got.startsWith("sha256:") && got !== digest) {
      throw this.fail(ref, `${ref.registry} stored the manifest of ${refText(ref)} as ${got}, expected ${digest}`, { reason: "digest-mismatch", digest, actual: got });
    }
    return digest;
  }
  /**
   * Pushes an image: its blobs (config and layers, from `store`) to each target repository, then
   * the manifest by each reference's tag. References may span repositories and registries; blobs
   * pushed to one repository are mounted into its siblings on the same registry.
   *
   * @example
   * ```ts
   * const r = await client.pushImage(['127.0.0.1:5000/app:1', '127.0.0.1:5000/app:latest'], { manifest: bytes }, store);
   * r.digest // sha256:…
   * ```
   */
  async pushImage(references, image, store, options = {}) {
    const refs = (Array.isArray(references) ? references : [references]).map(toRef);
    const bytes = image.manifest instanceof Uint8Array ? image.manifest : Buffer.from(JSON.stringify(image.manifest));
    const parsed2 = image.manifest instanceof Uint8Array ? JSON.parse(Buffer.from(image.manifest).toString("utf8")) : image.manifest;
    const mediaType = image.mediaType ?? parsed2.mediaType ?? MediaType.OciManifest;
    const blobs = [image.config ?? parsed2.config, ...image.layers ?? parsed2.layers];
    const outcomes = {};
    const written = [];
    let digest;
    const done = /* @__PURE__ */ new Set();
    for (const ref of refs) {
      const repoKey = `${ref.registry}/${ref.repository}`;
      if (!done.has(repoKey)) {
        done.add(repoKey);
        await this.pushBlobs(ref, blobs, store, options, outcomes);
      }
      digest = await this.pushManifest(ref, bytes, mediaType);
      written.push(refText(ref));
    }
    return { digest: digest ?? sha256Digest(bytes), size: bytes.length, mediaType, references: written, blobs: outcomes };
  }
  async pushBlobs(ref, blobs, store, options, outcomes) {
    const limit = pLimit(this.concurrency);
    const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
    await Promise.all(
      unique.map(
        (b) => limit(async () => {
          const outcome = await this.pushBlob(ref, b, store, options);
          outcomes[b.digest] ??= outcome;
        })
      )
    );
  }
  /**
   * Pushes an image index: every child manifest (read from `store`) the registry lacks is pushed
   * by digest with its blobs, then the index by each reference's tag.
   */
  async pushIndex(references, index, store, options = {}) {
    const refs = (Array.isArray(references) ? references : [references]).map(toRef);
    const bytes = index instanceof Uint8Array ? index : Buffer.from(JSON.stringify(index));
    const parsed2 = index instanceof Uint8Array ? JSON.parse(Buffer.from(index).toString("utf8")) : index;
    const mediaType = options.mediaType ?? parsed2.mediaType ?? MediaType.OciIndex;
    const outcomes = {};
    const written = [];
    let digest;
    const done = /* @__PURE__ */ new Set();
    for (const ref of refs) {
      const repoKey = `${ref.registry}/${ref.repository}`;
      if (!done.has(repoKey)) {
        done.add(repoKey);
        for (const child of parsed2.manifests) await this.pushChild(ref, child, store, options, outcomes);
      }
      digest = await this.pushManifest(ref, bytes, mediaType);
      written.push(refText(ref));
    }
    return { digest: digest ?? sha256Digest(bytes), size: bytes.length, mediaType, references: written, blobs: outcomes };
  }
  async pushChild(ref, child, store, options, outcomes) {
    const ep = this.transport.endpointFor(ref.registry);
    const head = await this.transport.request(ep, {
      method: "HEAD",
      url: `/v2/${repoPath(ref)}/manifests/${child.digest}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pushScopes(ref),
      image: refText(ref)
    });
    await head.arrayBuffer().catch(() => void 0);
    if (head.ok) return;
    const bytes = await store.getBytes(child.digest);
    const childRef = { registry: ref.registry, repository: ref.repository, digest: child.digest, familiar: "" };
    if (isIndexMediaType(child.mediaType)) {
      const nested = JSON.parse(bytes.toString("utf8"));
      for (const m of nested.manifests) await this.pushChild(ref, m, store, options, outcomes);
    } else {
      const m = JSON.parse(bytes.toString("utf8"));
      await this.pushBlobs(ref, [m.config, ...m.layers], store, options, outcomes);
    }
    await this.pushManifest(childRef, bytes, child.mediaType);
  }
};
function selectPlatform(index, want) {
  let best;
  for (const m of index.manifests ?? []) {
    if (!isManifestMediaType(m.mediaType) && !isIndexMediaType(m.mediaType) && m.mediaType !== void 0) continue;
    const rank = platformRank(want, m.platform);
    if (rank === void 0) continue;
    if (!best || rank < best.rank) best = { rank, desc: m };
  }
  return best?.desc;
}
var ChunkReader = class {
  constructor(source) {
    this.source = source;
    this.iterator = source[Symbol.asyncIterator]();
  }
  source;
  iterator;
  pending;
  /** Yields exactly `n` bytes (fewer only if the source ends early). */
  async *take(n) {
    let left = n;
    while (left > 0) {
      let buf = this.pending;
      this.pending = void 0;
      if (!buf) {
        const next = await this.iterator.next();
        if (next.done) return;
        buf = next.value;
      }
      if (buf.length > left) {
        this.pending = buf.subarray(left);
        buf = buf.subarray(0, left);
      }
      left -= buf.length;
      yield buf;
    }
  }
  close() {
    this.source.destroy();
  }
};

// packages/builder/src/remote-cache/registry.ts
var ClientPool = class {
  constructor(options) {
    this.options = options;
  }
  options;
  clients = /* @__PURE__ */ new WeakMap();
  get(signal) {
    let c = this.clients.get(signal);
    if (!c) {
      const s = this.options.signal ? AbortSignal.any([this.options.signal, signal]) : signal;
      c = new RegistryClient({ retries: 2, ...this.options, signal: s });
      this.clients.set(signal, c);
    }
    return c;
  }
};
var RegistryCacheWriter = class {
  constructor(name, options = {}) {
    this.name = name;
    this.pool = new ClientPool(options);
  }
  name;
  pool;
  async putBlob(desc, store, signal) {
    const outcome = await this.pool.get(signal).pushBlob(this.name, desc, store);
    return outcome === "exists" || outcome === "mounted" ? "exists" : "uploaded";
  }
  async putManifest(bytes, _desc, signal) {
    await this.pool.get(signal).pushManifest(this.name, bytes, MediaType.OciManifest);
  }
};
var RegistryCacheReader = class {
  constructor(name, options = {}) {
    this.name = name;
    this.pool = new ClientPool(options);
  }
  name;
  pool;
  async getManifest(signal) {
    try {
      const resolved2 = await this.pool.get(signal).resolve(this.name);
      return { bytes: resolved2.manifestBytes, config: resolved2.configBytes };
    } catch (e) {
      if (RegistryError.is(e) && e.data?.reason === "not-found") return void 0;
      if (RegistryError.is(e) && e.data?.reason === "platform") {
        throw new RemoteCacheError("E_CACHE_IMPORT", `${this.name} is an image index, not a build-image cache (a cache written by BuildKit?)`, { ref: this.name }, e);
      }
      throw e;
    }
  }
  async fetchBlob(desc, store, signal) {
    await this.pool.get(signal).pullBlob(this.name, desc, store);
  }
};

// packages/builder/src/remote-cache/export.ts
var DEFAULT_TIMEOUT_MS = 5 * 6e4;
function cacheWriterFor(spec, options = {}) {
  switch (spec.type) {
    case "registry":
      return new RegistryCacheWriter(spec.ref, options.registry);
    case "local":
      return new LocalCacheWriter(spec.dest, spec.tag);
    case "gha":
      return new GhaCacheWriter(spec, options.gha);
  }
}
async function exportCache(spec, input, options = {}) {
  const started = Date.now();
  const writer = options.writer ?? cacheWriterFor(spec, options);
  const result = {
    cache: writer.name,
    type: spec.type,
    mode: spec.mode,
    exported: { entries: [], blobs: [], mounts: [] },
    skipped: [],
    warnings: [],
    uploadedBytes: 0,
    durationMs: 0
  };
  const finish = () => {
    if (result.skipped.length > 0) {
      const counts = /* @__PURE__ */ new Map();
      for (const s of result.skipped) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
      const plural = { entry: "entries", blob: "blobs", mount: "mounts", manifest: "manifests" };
      const what = [...counts].map(([k, n]) => `${n} ${n === 1 ? k : plural[k]}`).join(", ");
      result.warnings.push({
        code: "E_CACHE_EXPORT",
        message: `cache export to ${writer.name} skipped ${what}${result.manifest ? "" : " and published no manifest"}: ${result.skipped[0].reason}${result.skipped.length > 1 ? " (and more)" : ""}`
      });
    }
    result.durationMs = Date.now() - started;
    return result;
  };
  if (spec.type === "registry" && !spec.ociMediaTypes) {
    result.warnings.push({
      code: "E_CACHE_EXPORT",
      message: "oci-mediatypes=false is ignored: the cache is always an OCI artifact manifest (layer blobs keep the media types they have in the image)"
    });
  }
  let collected;
  try {
    collected = await collectRecords(input.entries, input.index, spec.mode);
  } catch (e) {
    result.skipped.push({ kind: "manifest", id: writer.name, reason: `cannot read the local cache index: ${errorMessage(e)}` });
    return finish();
  }
  result.skipped.push(...collected.skipped);
  const packed = input.mounts?.length ? await packCacheMounts(input.mounts, input.store, options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: options.sourceDateEpoch } : {}) : { mounts: [], skipped: [] };
  result.skipped.push(...packed.skipped);
  const planned = await blobDescriptors(collected.records, packed.mounts, input.store);
  result.skipped.push(...planned.skipped);
  const budgetLimit = deadline(options.timeoutMs ?? spec.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  const budget = budgetLimit.signal;
  const failed = /* @__PURE__ */ new Map();
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  await Promise.all(
    planned.blobs.map(
      (desc) => limit(async () => {
        if (budget.aborted) {
          failed.set(desc.digest, options.signal?.aborted ? "export cancelled" : "time budget used up before this blob was uploaded");
          return;
        }
        try {
          const outcome = await writer.putBlob(desc, input.store, budget);
          result.exported.blobs.push({ digest: desc.digest, size: desc.size, outcome });
          if (outcome === "uploaded") result.uploadedBytes += desc.size;
        } catch (e) {
          const reason = budget.aborted && !options.signal?.aborted ? `time budget used up during the upload (${errorMessage(e)})` : errorMessage(e);
          failed.set(desc.digest, reason);
        }
      })
    )
  );
  budgetLimit.dispose();
  for (const [digest, reason] of failed) result.skipped.push({ kind: "blob", id: digest, reason });
  const records = planned.records.filter((r) => {
    const bad = recordBlobs(r).find((d) => failed.has(d));
    if (bad) result.skipped.push({ kind: "entry", id: r.key, reason: `blob ${bad} was not uploaded` });
    return !bad;
  });
  const mounts = packed.mounts.filter((m) => {
    const bad = failed.get(m.layer.digest);
    if (bad) result.skipped.push({ kind: "mount", id: m.id, reason: `its layer was not uploaded: ${bad}` });
    return !bad;
  });
  const wanted = planned.records.length + packed.mounts.length;
  const nothingArrived = wanted > 0 && records.length + mounts.length === 0 || planned.blobs.length > 0 && failed.size === planned.blobs.length;
  if (nothingArrived) {
    result.skipped.push({ kind: "manifest", id: writer.name, reason: "no blob could be uploaded; the previous cache (if any) was left in place" });
    return finish();
  }
  const used = /* @__PURE__ */ new Set([...records.flatMap(recordBlobs), ...mounts.map((m) => m.layer.digest)]);
  const artifact = buildCacheArtifact(
    records,
    mounts,
    planned.blobs.filter((b) => used.has(b.digest))
  );
  const commitLimit = deadline(options.commitTimeoutMs ?? 3e4, options.signal);
  const commit = commitLimit.signal;
  try {
    await input.store.putBytes(artifact.config, { expected: artifact.configDescriptor.digest });
    await writer.putBlob(artifact.configDescriptor, input.store, commit);
    await writer.putManifest(artifact.manifest, artifact.manifestDescriptor, commit);
    result.manifest = artifact.manifestDescriptor;
    result.exported.entries = records.map((r) => r.key);
    result.exported.mounts = mounts.map((m) => m.id);
  } catch (e) {
    result.skipped.push({ kind: "manifest", id: writer.name, reason: `publishing the cache manifest failed: ${errorMessage(e)}` });
  } finally {
    commitLimit.dispose();
  }
  return finish();
}

// packages/builder/src/remote-cache/import.ts
function cacheReaderFor(spec, options = {}) {
  switch (spec.type) {
    case "registry":
      return new RegistryCacheReader(spec.ref, options.registry);
    case "local":
      return new LocalCacheReader(spec.src, { ...spec.tag ? { tag: spec.tag } : {}, ...spec.digest ? { digest: spec.digest } : {} });
    case "gha":
      return new GhaCacheReader(spec, options.gha);
  }
}
async function importCache(input, options = {}) {
  const started = Date.now();
  const reader = options.reader ?? cacheReaderFor(input.source, options);
  const result = {
    cache: reader.name,
    found: false,
    entries: [],
    alreadyPresent: [],
    blobs: { fetched: [], present: 0 },
    mounts: [],
    warnings: [],
    durationMs: 0
  };
  const warn = (code, message) => result.warnings.push({ code, message });
  const limit = deadline(options.timeoutMs ?? input.source.timeoutMs ?? 10 * 6e4, options.signal);
  try {
    await importInto(input, reader, limit.signal, result, warn, options.concurrency ?? 4);
  } catch (e) {
    const code = RemoteCacheError.is(e) && (e.code === "E_CACHE_CORRUPT" || e.code === "E_CACHE_NOT_FOUND") ? e.code : "E_CACHE_IMPORT";
    warn(code, `cache import from ${reader.name} failed, building without it: ${errorMessage(e)}`);
  } finally {
    limit.dispose();
  }
  result.durationMs = Date.now() - started;
  return result;
}
async function importInto(input, reader, signal, result, warn, concurrency) {
  const { store, index } = input;
  const found = await reader.getManifest(signal);
  if (!found) {
    warn("E_CACHE_NOT_FOUND", `no cache found at ${reader.name}; building without it (it is created by --cache-to)`);
    return;
  }
  const manifest = parseCacheManifest(found.bytes, reader.name);
  result.manifest = { mediaType: manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json", digest: sha256Digest(found.bytes), size: found.bytes.length };
  let configBytes = found.config;
  if (!configBytes) {
    await reader.fetchBlob(manifest.config, store, signal);
    configBytes = await store.getBytes(manifest.config.digest);
  } else if (sha256Digest(configBytes) !== manifest.config.digest) {
    throw new RemoteCacheError("E_CACHE_CORRUPT", `${reader.name}: the cache config does not match its digest ${manifest.config.digest}`, {});
  }
  const config = parseCacheConfig(configBytes, reader.name);
  result.found = true;
  const listed = new Map(manifest.layers.map((l) => [l.digest, l]));
  const records = [];
  for (const r of config.records) {
    let blobs;
    try {
      if (!r || typeof r.key !== "string" || !isDigest2(r.key) || !r.result || typeof r.result !== "object") throw new Error("malformed record");
      blobs = recordBlobs(r);
    } catch (e) {
      warn("E_CACHE_CORRUPT", `${reader.name}: ignored a cache record (${errorMessage(e)})`);
      continue;
    }
    const missing = blobs.find((d) => !listed.has(d));
    if (missing) {
      warn("E_CACHE_CORRUPT", `${reader.name}: ignored record ${r.key}: blob ${missing} is not in the cache manifest`);
      continue;
    }
    records.push(r);
  }
  const mounts = config.mounts.filter((m) => {
    const ok = m && typeof m.id === "string" && m.layer && listed.has(m.layer.digest);
    if (!ok) warn("E_CACHE_CORRUPT", `${reader.name}: ignored a cache mount entry that is malformed or not in the manifest`);
    return ok;
  });
  const needed = /* @__PURE__ */ new Set([...records.flatMap(recordBlobs), ...mounts.map((m) => m.layer.digest)]);
  const failed = /* @__PURE__ */ new Map();
  const limit = pLimit(Math.max(1, concurrency));
  await Promise.all(
    [...needed].map(
      (d) => limit(async () => {
        const desc = listed.get(d);
        try {
          if (await store.has(desc.digest)) {
            result.blobs.present++;
            return;
          }
          await reader.fetchBlob(desc, store, signal);
          result.blobs.fetched.push(desc.digest);
        } catch (e) {
          failed.set(d, errorMessage(e));
        }
      })
    )
  );
  if (failed.size > 0) {
    const [first, reason] = [...failed][0];
    warn("E_CACHE_IMPORT", `${reader.name}: ${failed.size} blob(s) could not be fetched (first: ${first}: ${reason}); the entries needing them were not imported`);
  }
  for (const r of records) {
    if (recordBlobs(r).some((d) => failed.has(d))) continue;
    try {
      const existing = await index.peek(r.key);
      if (existing && (await Promise.all(referencesOf(existing).map((d) => store.has(d)))).every(Boolean)) {
        result.alreadyPresent.push(r.key);
        continue;
      }
      const seedHistory = r.stepId !== void 0 && r.preimage !== void 0 && !await index.findNearest(r.stepId);
      await index.put(r.key, r.result, r.preimage, seedHistory ? { stepId: r.stepId } : {});
      result.entries.push(r.key);
    } catch (e) {
      warn("E_CACHE_CORRUPT", `${reader.name}: ignored record ${r.key}: ${errorMessage(e)}`);
    }
  }
  const targets = new Map((input.mounts ?? []).map((m) => [m.id, m.dir]));
  for (const m of mounts) {
    const entry = { id: m.id, layer: m.layer };
    const dir = targets.get(m.id);
    if (dir !== void 0 && !failed.has(m.layer.digest)) {
      try {
        await restoreCacheMount(store, m.layer, dir);
        entry.restoredTo = dir;
      } catch (e) {
        warn("E_CACHE_IMPORT", `${reader.name}: cache mount ${m.id} could not be restored into ${dir}: ${errorMessage(e)}`);
      }
    }
    result.mounts.push(entry);
  }
}

// packages/builder/src/solve/setup.ts
var import_node_crypto23 = require("node:crypto");
var import_promises39 = require("node:fs/promises");
var import_node_path30 = __toESM(require("node:path"), 1);

// packages/builder/src/context/errors.ts
var DockerignoreError = class extends BuildError {
  name = "DockerignoreError";
  constructor(message, data, cause) {
    super("E_DOCKERIGNORE", message, { data, cause });
  }
};
var ContextEscapeError = class extends BuildError {
  name = "ContextEscapeError";
  constructor(source, detail, location) {
    super(
      "E_CONTEXT_ESCAPE",
      `COPY source ${JSON.stringify(source)} is outside the build context: ${detail}. Only files inside the context directory can be copied; move the file into the context or pass a larger context directory.`,
      { data: { source, detail }, ...location ? { location } : {} }
    );
  }
};
var SourceNotFoundError = class extends BuildError {
  name = "SourceNotFoundError";
  constructor(source, detail, location) {
    super(
      "E_SOURCE_NOT_FOUND",
      `COPY source ${JSON.stringify(source)} not found in the build context: ${detail}. Check the path (it is relative to the context root) and that .dockerignore does not exclude it.`,
      { data: { source, detail }, ...location ? { location } : {} }
    );
  }
};

// packages/builder/src/context/gopath.ts
var BadPatternError = class extends Error {
  constructor(pattern, reason) {
    super(`syntax error in pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }
  pattern;
  reason;
  name = "BadPatternError";
};
function goClean(p) {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}
var GO_SPACE = /* @__PURE__ */ new Set([
  9,
  10,
  11,
  12,
  13,
  32,
  133,
  160,
  5760,
  8192,
  8193,
  8194,
  8195,
  8196,
  8197,
  8198,
  8199,
  8200,
  8201,
  8202,
  8232,
  8233,
  8239,
  8287,
  12288
]);
function goTrimSpace2(s) {
  let start2 = 0;
  let end = s.length;
  while (start2 < end && GO_SPACE.has(s.charCodeAt(start2))) start2++;
  while (end > start2 && GO_SPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start2, end);
}
function compareGoStrings(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 55296 && x <= 57343;
    const ys = y >= 55296 && y <= 57343;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
function scanChunk(pattern, pos) {
  let star = false;
  while (pos < pattern.length && pattern[pos] === "*") {
    pos++;
    star = true;
  }
  let inrange = false;
  let i = pos;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case "\\":
        if (i + 1 < pattern.length) i++;
        break;
      case "[":
        inrange = true;
        break;
      case "]":
        inrange = false;
        break;
      case "*":
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunkStart: pos, chunkEnd: i };
}
function getEsc(p, chunk, i, end) {
  if (i >= end || chunk[i] === "-" || chunk[i] === "]") throw new BadPatternError(p, "bad range in character class");
  if (chunk[i] === "\\") {
    i++;
    if (i >= end) throw new BadPatternError(p, "trailing backslash in character class");
  }
  const r = chunk[i].codePointAt(0);
  i++;
  if (i >= end) throw new BadPatternError(p, "unterminated character class");
  return { r, next: i };
}
function matchChunk(p, chunk, cs, ce, s, si) {
  let failed = false;
  let i = cs;
  while (i < ce) {
    if (!failed && si >= s.length) failed = true;
    const c = chunk[i];
    if (c === "[") {
      let r = -1;
      if (!failed) r = s[si++].codePointAt(0);
      i++;
      let negated = false;
      if (i < ce && chunk[i] === "^") {
        negated = true;
        i++;
      }
      let match = false;
      let nrange = 0;
      for (; ; ) {
        if (i < ce && chunk[i] === "]" && nrange > 0) {
          i++;
          break;
        }
        const lo = getEsc(p, chunk, i, ce);
        i = lo.next;
        let hi = lo.r;
        if (chunk[i] === "-") {
          const h = getEsc(p, chunk, i + 1, ce);
          hi = h.r;
          i = h.next;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === "?") {
      if (!failed) {
        if (s[si] === "/") failed = true;
        si++;
      }
      i++;
    } else {
      let lit = c;
      if (c === "\\") {
        i++;
        if (i >= ce) throw new BadPatternError(p, "trailing backslash");
        lit = chunk[i];
      }
      if (!failed) {
        if (lit !== s[si]) failed = true;
        si++;
      }
      i++;
    }
  }
  return failed ? -1 : si;
}
function goMatch(pattern, name) {
  const pat = Array.from(pattern);
  const s = Array.from(name);
  let pos = 0;
  let si = 0;
  outer: while (pos < pat.length) {
    const { star, chunkStart, chunkEnd } = scanChunk(pat, pos);
    pos = chunkEnd;
    if (star && chunkStart === chunkEnd) {
      return !s.slice(si).includes("/");
    }
    let err;
    let t = -1;
    try {
      t = matchChunk(pattern, pat, chunkStart, chunkEnd, s, si);
    } catch (e) {
      err = e;
    }
    if (t >= 0 && (t === s.length || pos < pat.length)) {
      si = t;
      continue;
    }
    if (err) throw err;
    if (star) {
      for (let i = si; i < s.length && s[i] !== "/"; i++) {
        const t2 = matchChunk(pattern, pat, chunkStart, chunkEnd, s, i + 1);
        if (t2 >= 0) {
          if (pos === pat.length && t2 < s.length) continue;
          si = t2;
          continue outer;
        }
      }
    }
    while (pos < pat.length) {
      const c = scanChunk(pat, pos);
      pos = c.chunkEnd;
      matchChunk(pattern, pat, c.chunkStart, c.chunkEnd, [], 0);
    }
    return false;
  }
  return si === s.length;
}

// packages/builder/src/context/go-regexp.ts
var GoRegexpError = class extends Error {
  name = "GoRegexpError";
};
var cp = (c) => `\\u{${c.toString(16)}}`;
var PERL_CLASSES = {
  d: "0-9",
  w: "0-9A-Za-z_",
  s: "\\t\\n\\f\\r "
};
var POSIX_CLASSES = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\u{0}-\\u{7f}",
  blank: "\\t ",
  cntrl: "\\u{0}-\\u{1f}\\u{7f}",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f"
};
var SIMPLE_ESCAPES = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
function isAlnum(c) {
  return /^[0-9A-Za-z]$/.test(c);
}
function parseEscapeChar(chars, i) {
  const c = chars[i];
  if (c === void 0) throw new GoRegexpError("trailing backslash at end of expression");
  if (c in SIMPLE_ESCAPES) return { code: SIMPLE_ESCAPES[c], next: i + 1 };
  if (c >= "0" && c <= "7") {
    if (c !== "0" && !(chars[i + 1] !== void 0 && chars[i + 1] >= "0" && chars[i + 1] <= "7")) {
      throw new GoRegexpError(`invalid escape sequence: \\${c}`);
    }
    let j = i;
    let v = 0;
    while (j < i + 3 && chars[j] !== void 0 && chars[j] >= "0" && chars[j] <= "7") v = v * 8 + Number(chars[j++]);
    return { code: v, next: j };
  }
  if (c === "x") {
    if (chars[i + 1] === "{") {
      const close = chars.indexOf("}", i + 2);
      const hex3 = close < 0 ? "" : chars.slice(i + 2, close).join("");
      if (!/^[0-9A-Fa-f]+$/.test(hex3) || parseInt(hex3, 16) > 1114111) throw new GoRegexpError("invalid escape sequence: \\x{");
      return { code: parseInt(hex3, 16), next: close + 1 };
    }
    const hex2 = (chars[i + 1] ?? "") + (chars[i + 2] ?? "");
    if (!/^[0-9A-Fa-f]{2}$/.test(hex2)) throw new GoRegexpError("invalid escape sequence: \\x");
    return { code: parseInt(hex2, 16), next: i + 3 };
  }
  const code = c.codePointAt(0);
  if (code < 128 && !isAlnum(c)) return { code, next: i + 1 };
  return void 0;
}
function translateClass(chars, start2) {
  let i = start2;
  let negated = false;
  if (chars[i] === "^") {
    negated = true;
    i++;
  }
  let body = "";
  let first = true;
  for (; ; ) {
    const c = chars[i];
    if (c === void 0) throw new GoRegexpError("missing closing ]");
    if (c === "]" && !first) {
      i++;
      break;
    }
    first = false;
    if (c === "[" && chars[i + 1] === ":") {
      const end = chars.indexOf("]", i + 2);
      const inner = end < 0 ? "" : chars.slice(i + 2, end).join("");
      const m = /^(\^?)([a-z]+):$/.exec(inner);
      if (m) {
        const set = POSIX_CLASSES[m[2]];
        if (set === void 0) throw new GoRegexpError(`invalid character class range: [:${inner}]`);
        if (m[1]) throw new GoRegexpError("negated POSIX class inside a class is not supported");
        body += set;
        i = end + 1;
        continue;
      }
    }
    if (c === "\\") {
      const e = chars[i + 1];
      if (e !== void 0 && e.toLowerCase() in PERL_CLASSES) {
        if (e !== e.toLowerCase()) throw new GoRegexpError(`negated class \\${e} inside a class is not supported`);
        body += PERL_CLASSES[e];
        i += 2;
        continue;
      }
    }
    const lo = classChar(chars, i);
    i = lo.next;
    let hi = lo.code;
    if (chars[i] === "-" && chars[i + 1] !== void 0 && chars[i + 1] !== "]") {
      const h = classChar(chars, i + 1);
      hi = h.code;
      i = h.next;
      if (hi < lo.code) throw new GoRegexpError("invalid character class range");
    }
    body += hi === lo.code ? cp(lo.code) : `${cp(lo.code)}-${cp(hi)}`;
  }
  return { js: `[${negated ? "^" : ""}${body}]`, next: i };
}
function classChar(chars, i) {
  const c = chars[i];
  if (c === void 0) throw new GoRegexpError("missing closing ]");
  if (c === "\\") {
    const e = parseEscapeChar(chars, i + 1);
    if (!e) throw new GoRegexpError(`invalid escape sequence: \\${chars[i + 1]}`);
    return e;
  }
  return { code: c.codePointAt(0), next: i + 1 };
}
function compileGoRegexp(src) {
  const chars = Array.from(src);
  let out = "";
  let i = 0;
  let depth = 0;
  let canRepeat = false;
  while (i < chars.length) {
    const c = chars[i];
    switch (c) {
      case "(":
        if (chars[i + 1] === "?") throw new GoRegexpError("unsupported group syntax");
        out += "(?:";
        depth++;
        i++;
        canRepeat = false;
        continue;
      case ")":
        if (depth === 0) throw new GoRegexpError("unexpected )");
        depth--;
        out += ")";
        i++;
        canRepeat = true;
        continue;
      case "*":
      case "+":
      case "?":
        if (!canRepeat) throw new GoRegexpError(`missing argument to repetition operator: ${c}`);
        out += c;
        i++;
        if (chars[i] === "?") {
          out += "?";
          i++;
        }
        canRepeat = false;
        continue;
      case ".":
        out += "[^\\n]";
        i++;
        canRepeat = true;
        continue;
      case "^":
        out += "^";
        i++;
        canRepeat = false;
        continue;
      case "$":
        out += "$";
        i++;
        canRepeat = false;
        continue;
      case "|":
        out += "|";
        i++;
        canRepeat = false;
        continue;
      case "[": {
        const cls = translateClass(chars, i + 1);
        out += cls.js;
        i = cls.next;
        canRepeat = true;
        continue;
      }
      case "\\": {
        const e = chars[i + 1];
        if (e === void 0) throw new GoRegexpError("trailing backslash at end of expression");
        if (e === "A") {
          out += "^";
          i += 2;
          canRepeat = false;
          continue;
        }
        if (e === "z") {
          out += "$";
          i += 2;
          canRepeat = false;
          continue;
        }
        if (e === "b" || e === "B") {
          out += "\\" + e;
          i += 2;
          canRepeat = false;
          continue;
        }
        if (e.toLowerCase() in PERL_CLASSES) {
          out += `[${e === e.toLowerCase() ? "" : "^"}${PERL_CLASSES[e.toLowerCase()]}]`;
          i += 2;
          canRepeat = true;
          continue;
        }
        if (e === "Q") {
          let k = i + 2;
          let lit = "";
          while (k < chars.length && !(chars[k] === "\\" && chars[k + 1] === "E")) lit += cp(chars[k++].codePointAt(0));
          i = k < chars.length ? k + 2 : k;
          out += lit;
          canRepeat = lit !== "";
          continue;
        }
        const esc = parseEscapeChar(chars, i + 1);
        if (!esc) throw new GoRegexpError(`invalid escape sequence: \\${e}`);
        out += cp(esc.code);
        i = esc.next;
        canRepeat = true;
        continue;
      }
      case "{": {
        out += cp(123);
        i++;
        canRepeat = true;
        continue;
      }
      default:
        out += cp(c.codePointAt(0));
        i++;
        canRepeat = true;
    }
  }
  if (depth !== 0) throw new GoRegexpError("missing closing )");
  try {
    return new RegExp(out, "u");
  } catch (e) {
    throw new GoRegexpError(`cannot translate expression: ${e.message}`);
  }
}

// packages/builder/src/context/patternmatcher.ts
var Pattern = class {
  constructor(cleaned, exclusion, file2) {
    this.file = file2;
    this.cleaned = cleaned;
    this.exclusion = exclusion;
  }
  file;
  /** The cleaned pattern text without the leading `!`. */
  cleaned;
  exclusion;
  compiled;
  toString() {
    return this.cleaned;
  }
  /**
   * Whether `path` (slash-separated, relative, clean) matches this pattern alone.
   * @throws DockerignoreError when the pattern's expression does not compile (as Go fails with
   *   ErrBadPattern on every match call).
   */
  match(path28) {
    const c = this.compiled ??= this.compile();
    if ("error" in c) {
      throw new DockerignoreError(
        `invalid pattern ${JSON.stringify((this.exclusion ? "!" : "") + this.cleaned)} in ${this.file}: ${c.error}. Fix or remove the pattern.`,
        { pattern: (this.exclusion ? "!" : "") + this.cleaned, file: this.file, reason: c.error }
      );
    }
    switch (c.type) {
      case "exact":
        return path28 === this.cleaned;
      case "prefix":
        return path28.startsWith(this.cleaned.slice(0, -2));
      case "suffix": {
        const suffix = this.cleaned.slice(2);
        if (path28.endsWith(suffix)) return true;
        return suffix[0] === "/" && path28 === suffix.slice(1);
      }
      case "regexp":
        return c.re.test(path28);
    }
  }
  compile() {
    let reg = "^";
    let type = "exact";
    const chars = Array.from(this.cleaned);
    for (let i = 0, n = 0; i < chars.length; n++) {
      const ch = chars[i++];
      if (ch === "*") {
        if (chars[i] === "*") {
          i++;
          if (chars[i] === "/") i++;
          if (i >= chars.length) {
            if (type === "exact") type = "prefix";
            else {
              reg += ".*";
              type = "regexp";
            }
          } else {
            reg += "(.*/)?";
            type = "regexp";
          }
          if (n === 0) type = "suffix";
        } else {
          reg += "[^/]*";
          type = "regexp";
        }
      } else if (ch === "?") {
        reg += "[^/]";
        type = "regexp";
      } else if (".+()|{}$".includes(ch)) {
        reg += "\\" + ch;
      } else if (ch === "\\") {
        if (i < chars.length) {
          reg += "\\" + chars[i++];
          type = "regexp";
        } else {
          reg += "\\";
        }
      } else if (ch === "[" || ch === "]") {
        reg += ch;
        type = "regexp";
      } else {
        reg += ch;
      }
    }
    if (type !== "regexp") return { type };
    try {
      return { type, re: compileGoRegexp(reg + "$") };
    } catch (e) {
      if (e instanceof GoRegexpError) return { error: e.message };
      throw e;
    }
  }
};
var PatternMatcher = class {
  patterns;
  /** True when any pattern is an exception (`!`). */
  exclusions;
  /**
   * @param patterns lines as returned by {@link readIgnoreFile} (or `--exclude` values)
   * @param file where the patterns came from, for error messages
   * @throws DockerignoreError for a lone `!` or a pattern Go's `filepath.Match` rejects
   */
  constructor(patterns, file2 = ".dockerignore") {
    const out = [];
    let exclusions = false;
    for (const raw of patterns) {
      let p = goTrimSpace2(raw);
      if (p === "") continue;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === "!") {
        if (p.length === 1) {
          throw new DockerignoreError(
            `illegal exclusion pattern "!" in ${file2}: a "!" must be followed by the path to re-include`,
            { pattern: raw, file: file2, reason: 'illegal exclusion pattern: "!"' }
          );
        }
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      try {
        goMatch(p, ".");
      } catch (e) {
        if (!(e instanceof BadPatternError)) throw e;
        throw new DockerignoreError(
          `invalid pattern ${JSON.stringify(raw)} in ${file2}: ${e.reason}. Escape special characters with "\\" or fix the character class.`,
          { pattern: raw, file: file2, reason: e.reason },
          e
        );
      }
      out.push(new Pattern(p, exclusion, file2));
    }
    this.patterns = out;
    this.exclusions = exclusions;
  }
  /**
   * patternmatcher `MatchesOrParentMatches`: whether `path` is excluded, checking the path and
   * every parent directory against each pattern.
   */
  matches(path28) {
    return this.matchesUsingParentResults(path28, []).matched;
  }
  /**
   * patternmatcher `MatchesUsingParentResults`: like {@link matches}, but reuses the per-pattern
   * results of the parent directory (pass `[]` when unknown). Returns the info to pass to children.
   */
  matchesUsingParentResults(path28, parent) {
    if (parent.length !== 0 && parent.length !== this.patterns.length) {
      throw new Error("wrong number of values in parent match info");
    }
    let matched = false;
    const info = new Array(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, i) => {
      let match = parent.length !== 0 ? parent[i] : false;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(path28);
        if (!match && parent.length === 0) {
          const slash = path28.lastIndexOf("/");
          if (slash > 0) {
            const dirs = path28.slice(0, slash).split("/");
            for (let k = 1; k <= dirs.length && !match; k++) match = pattern.match(dirs.slice(0, k).join("/"));
          }
        }
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info };
  }
};

// packages/builder/src/context/ignorefile.ts
var import_promises19 = require("node:fs/promises");
var path4 = __toESM(require("node:path"), 1);
function readIgnoreFile(text) {
  const out = [];
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((rawLine, n) => {
    let line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (n === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    if (line.startsWith("#")) return;
    let pattern = goTrimSpace2(line);
    if (pattern === "") return;
    const invert = pattern[0] === "!";
    if (invert) pattern = goTrimSpace2(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === "/") pattern = pattern.slice(1);
    }
    out.push(invert ? "!" + pattern : pattern);
  });
  return out;
}
async function loadIgnorePatterns(contextDir, dockerfilePath) {
  const candidates = [];
  if (dockerfilePath !== void 0) {
    const df = path4.resolve(contextDir, dockerfilePath);
    candidates.push(path4.join(path4.dirname(df), path4.basename(df) + ".dockerignore"));
  }
  candidates.push(path4.join(contextDir, ".dockerignore"));
  for (const file2 of candidates) {
    let text;
    try {
      text = await (0, import_promises19.readFile)(file2, "utf8");
    } catch (e) {
      const code = e.code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw e;
    }
    return { patterns: readIgnoreFile(text), file: file2 };
  }
  return { patterns: [], file: void 0 };
}

// packages/builder/src/context/walk.ts
var import_node_fs11 = require("node:fs");
var path5 = __toESM(require("node:path"), 1);

// packages/builder/src/context/entry.ts
function entryTypeOf(st) {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "char-device";
  return "block-device";
}
function toEntry(relPath, st, linkTarget) {
  const e = {
    path: relPath,
    type: entryTypeOf(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    dev: st.dev,
    ino: st.ino,
    nlink: Number(st.nlink),
    rdev: st.rdev
  };
  if (linkTarget !== void 0) e.linkTarget = linkTarget;
  return e;
}

// packages/builder/src/context/walk.ts
var PATTERN_CHARS = /[*[\]?^\\]/;
function withoutTrailingGlob(p) {
  if (p.endsWith("/**")) p = p.slice(0, -3);
  if (p.endsWith("/*")) p = p.slice(0, -2);
  return p;
}
async function walkContext(contextDir, patterns = [], options = {}) {
  const matcher = patterns instanceof PatternMatcher ? patterns : patterns.length > 0 ? new PatternMatcher(patterns, options.patternFile) : void 0;
  const m = matcher && matcher.patterns.length > 0 ? matcher : void 0;
  const exceptions = m ? m.patterns.filter((p) => p.exclusion) : [];
  const onlyPrefixExceptions = !exceptions.some((p) => PATTERN_CHARS.test(withoutTrailingGlob(p.cleaned)));
  const out = [];
  const ancestors = [];
  async function visitDir(abs, rel, parentInfo) {
    let names;
    try {
      names = (0, import_node_fs11.readdirSync)(abs);
    } catch (e) {
      if (e.code === "ENOENT") return;
      throw e;
    }
    names.sort(compareGoStrings);
    const stats = names.map((name) => {
      const p = path5.join(abs, name);
      try {
        const st = (0, import_node_fs11.lstatSync)(p, { bigint: true });
        const target = st.isSymbolicLink() ? (0, import_node_fs11.readlinkSync)(p) : void 0;
        return { name, st, target };
      } catch (e) {
        if (e.code === "ENOENT") return void 0;
        throw e;
      }
    });
    for (const s of stats) {
      if (!s) continue;
      const relPath = rel === "" ? s.name : `${rel}/${s.name}`;
      const entry = toEntry(relPath, s.st, s.target);
      const isDir2 = entry.type === "dir";
      let excluded = false;
      let info = [];
      if (m) {
        const r = m.matchesUsingParentResults(relPath, parentInfo);
        excluded = r.matched;
        info = r.info;
        if (excluded && isDir2 && onlyPrefixExceptions) {
          if (!m.exclusions) continue;
          const dirSlash = relPath + "/";
          if (!exceptions.some((p) => (withoutTrailingGlob(p.cleaned) + "/").startsWith(dirSlash))) continue;
        }
      }
      if (!excluded) {
        for (const a of ancestors) {
          if (!a.sent) {
            out.push(a.entry);
            a.sent = true;
          }
        }
        out.push(entry);
      }
      if (isDir2) {
        ancestors.push({ entry, sent: !excluded });
        await visitDir(path5.join(abs, s.name), relPath, info);
        ancestors.pop();
      }
    }
  }
  await visitDir(contextDir, "", []);
  return out;
}

// packages/builder/src/context/build-context.ts
var import_promises20 = require("node:fs/promises");
var path6 = __toESM(require("node:path"), 1);
function parentOf(p) {
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : p.slice(0, i);
}
function contextFromEntries(dir, root, entries) {
  const byPath = /* @__PURE__ */ new Map([[".", root]]);
  const children = /* @__PURE__ */ new Map([[".", []]]);
  for (const e of entries) {
    byPath.set(e.path, e);
    if (e.type === "dir" && !children.has(e.path)) children.set(e.path, []);
    const parent = parentOf(e.path);
    let list = children.get(parent);
    if (!list) children.set(parent, list = []);
    list.push(e.path.slice(e.path.lastIndexOf("/") + 1));
  }
  for (const list of children.values()) list.sort(compareGoStrings);
  return { dir, root, entries, byPath, children };
}
async function loadContext(dir, options = {}) {
  const abs = path6.resolve(dir);
  let patterns = options.patterns;
  let file2 = ".dockerignore";
  if (!patterns) {
    const loaded = await loadIgnorePatterns(abs, options.dockerfilePath);
    patterns = loaded.patterns;
    if (loaded.file) file2 = path6.relative(abs, loaded.file) || loaded.file;
  }
  const matcher = new PatternMatcher(patterns, file2);
  const [rootStat, entries] = await Promise.all([(0, import_promises20.lstat)(abs, { bigint: true }), walkContext(abs, matcher)]);
  return contextFromEntries(abs, toEntry(".", rootStat), entries);
}

// packages/builder/src/context/select.ts
var MAX_SYMLINKS2 = 255;
function containsWildcards(name) {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}
function splitWildcards(p) {
  const parts = p === "." ? [] : p.split("/");
  const k = parts.findIndex(containsWildcards);
  if (k < 0) return [p, ""];
  return [parts.slice(0, k).join("/") || ".", parts.slice(k).join("/")];
}
function toContextPath(source, original, location) {
  const cleaned = goClean(source.replace(/^\/+/, ""));
  if (cleaned === ".." || cleaned.startsWith("../")) {
    throw new ContextEscapeError(original, `the path climbs above the context root ("${cleaned}")`, location);
  }
  return cleaned;
}
var Resolver = class {
  constructor(ctx, source, location) {
    this.ctx = ctx;
    this.source = source;
    this.location = location;
  }
  ctx;
  source;
  location;
  /**
   * Resolves a clean context-relative path component by component, following symlinks in the
   * middle always and the final one only when `followFinal`.
   */
  resolve(p, followFinal) {
    let pending2 = p === "." ? [] : p.split("/");
    let cur = [];
    let hops = 0;
    while (pending2.length > 0) {
      const name = pending2.shift();
      if (name === "." || name === "") continue;
      if (name === "..") {
        if (cur.length === 0) throw new ContextEscapeError(this.source, "a symlink target climbs above the context root", this.location);
        cur.pop();
        continue;
      }
      const next = [...cur, name].join("/");
      const entry = this.ctx.byPath.get(next);
      if (!entry) return void 0;
      const last = pending2.length === 0;
      if (entry.type === "symlink" && (!last || followFinal)) {
        if (++hops > MAX_SYMLINKS2) throw new SourceNotFoundError(this.source, "too many levels of symbolic links", this.location);
        const target = entry.linkTarget ?? "";
        if (target.startsWith("/")) {
          throw new ContextEscapeError(this.source, `"${next}" is a symlink to the absolute path "${target}"`, this.location);
        }
        const joined = goClean([...cur, target].join("/"));
        if (joined === ".." || joined.startsWith("../")) {
          throw new ContextEscapeError(this.source, `"${next}" is a symlink to "${target}", which is outside the context`, this.location);
        }
        pending2 = [...joined === "." ? [] : joined.split("/"), ...pending2];
        cur = [];
        continue;
      }
      if (!last && entry.type !== "dir") return void 0;
      cur.push(name);
    }
    return cur.length === 0 ? "." : cur.join("/");
  }
};
function enumerate(ctx, resolved2, topName, m) {
  const out = [];
  const top = ctx.byPath.get(resolved2);
  if (top.type !== "dir") {
    out.push({ path: topName, entry: top });
    return out;
  }
  out.push({ path: ".", entry: top });
  const parents = [];
  const visit = (dirPath, rel, incInfo, excInfo) => {
    for (const name of ctx.children.get(dirPath) ?? []) {
      const ctxPath = dirPath === "." ? name : `${dirPath}/${name}`;
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const entry = ctx.byPath.get(ctxPath);
      let include = true;
      let excluded = false;
      let ii = [];
      let ei = [];
      if (m.include) {
        const r = m.include.matchesUsingParentResults(relPath, incInfo);
        include = r.matched;
        ii = r.info;
      }
      if (m.exclude) {
        const r = m.exclude.matchesUsingParentResults(relPath, excInfo);
        ei = r.info;
        if (r.matched) {
          include = false;
          excluded = true;
        }
      }
      if (!include && !m.include && !(m.exclude?.exclusions ?? false)) continue;
      const isDir2 = entry.type === "dir";
      if (!include && !isDir2) continue;
      const sel = { path: relPath, entry };
      if (include) {
        for (const p of parents) {
          if (!p.copied) {
            out.push(p.sel);
            p.copied = true;
          }
        }
        out.push(sel);
      }
      if (!isDir2) continue;
      parents.push({ sel, copied: include });
      if (!(excluded && !(m.exclude?.exclusions ?? false))) visit(ctxPath, relPath, ii, ei);
      parents.pop();
    }
  };
  visit(resolved2, "", [], []);
  return out;
}
function lastName(p) {
  return p === "." ? "." : p.slice(p.lastIndexOf("/") + 1);
}
function selectSources(ctx, options) {
  const followSymlinks = options.followSymlinks ?? true;
  const exclude = options.excludes && options.excludes.length > 0 ? new PatternMatcher(options.excludes, "--exclude") : void 0;
  const sources = [];
  for (const source of options.sources) {
    const resolver = new Resolver(ctx, source, options.location);
    const matches = [];
    let base = source;
    let include;
    let required;
    if (options.parents) {
      const k = source.indexOf("/./");
      const pattern = k < 0 ? source : source.slice(k + 3);
      base = k < 0 ? "/" : source.slice(0, k);
      const patternPath = toContextPath(pattern, source, options.location);
      try {
        include = new PatternMatcher([patternPath], "--parents source");
      } catch (e) {
        if (e instanceof DockerignoreError) throw new SourceNotFoundError(source, `invalid pattern: ${e.data["reason"]}`, options.location);
        throw e;
      }
      if (!containsWildcards(base) && !containsWildcards(pattern)) required = goClean(`${toContextPath(base, source, options.location)}/${patternPath}`);
    }
    const clean = toContextPath(base, source, options.location);
    const [d1, d2] = splitWildcards(clean);
    const candidates = [];
    if (d2 === "") {
      candidates.push(d1);
    } else {
      const dir = resolver.resolve(d1, followSymlinks);
      const dirEntry = dir === void 0 ? void 0 : ctx.byPath.get(dir);
      if (dir !== void 0 && dirEntry?.type === "dir") {
        const walk2 = (p, rel) => {
          for (const name of ctx.children.get(p) ?? []) {
            const child = p === "." ? name : `${p}/${name}`;
            const r = rel === "" ? name : `${rel}/${name}`;
            let ok = false;
            try {
              ok = goMatch(d2, r);
            } catch {
              ok = false;
            }
            if (ok) {
              candidates.push(dir === "." ? r : `${dir}/${r}`);
              if (ctx.byPath.get(child).type === "dir") continue;
            }
            if (ctx.byPath.get(child).type === "dir") walk2(child, r);
          }
        };
        walk2(dir, "");
      }
      if (candidates.length === 0) {
        throw new SourceNotFoundError(source, `no file or directory matches "${clean}"`, options.location);
      }
    }
    for (const matched of candidates) {
      const resolved2 = resolver.resolve(matched, followSymlinks);
      if (resolved2 === void 0 || !ctx.byPath.has(resolved2)) {
        throw new SourceNotFoundError(source, `"${matched}" does not exist`, options.location);
      }
      const m = {};
      if (include) m.include = include;
      if (exclude) m.exclude = exclude;
      const entries = enumerate(ctx, resolved2, lastName(matched), m);
      matches.push({ matched, resolved: resolved2, entries });
    }
    if (required !== void 0 && resolver.resolve(required, false) === void 0) {
      throw new SourceNotFoundError(source, `"${required}" does not exist`, options.location);
    }
    sources.push({ source, matches });
  }
  return { context: ctx, sources };
}

// packages/builder/src/context/stat-cache.ts
var import_node_crypto12 = require("node:crypto");
var import_promises21 = require("node:fs/promises");
var path7 = __toESM(require("node:path"), 1);
var VERSION = 1;
var SECOND = 1000000000n;
var StatCache = class _StatCache {
  constructor(file2, contextDir) {
    this.file = file2;
    this.contextDir = contextDir;
  }
  file;
  contextDir;
  rows = /* @__PURE__ */ new Map();
  /** Start of the second the cache file was last written (fs clock); entries at or after it are racy. */
  racyFromNs = -1n;
  dirty = false;
  /** The cache file for a context under `cacheRoot`. */
  static fileFor(cacheRoot, contextDir) {
    const abs = path7.resolve(contextDir);
    return path7.join(cacheRoot, `context-v${VERSION}`, `${(0, import_node_crypto12.createHash)("sha256").update(abs).digest("hex")}.json`);
  }
  /**
   * Loads the stat cache of `contextDir` (an empty one when absent, unreadable or of another version).
   * @example const sc = await StatCache.load(`${cacheRoot}`, '/src/app')
   */
  static async load(cacheRoot, contextDir) {
    const file2 = _StatCache.fileFor(cacheRoot, contextDir);
    const sc = new _StatCache(file2, path7.resolve(contextDir));
    try {
      const [text, st] = await Promise.all([(0, import_promises21.readFile)(file2, "utf8"), (0, import_promises21.stat)(file2, { bigint: true })]);
      const doc = JSON.parse(text);
      if (doc.version !== VERSION || doc.context !== sc.contextDir) return sc;
      for (const r of doc.entries) sc.rows.set(r[0], r);
      sc.racyFromNs = st.mtimeNs / SECOND * SECOND;
    } catch {
    }
    return sc;
  }
  get size() {
    return this.rows.size;
  }
  /** The content digest (hex sha256) recorded for an unchanged, not racily clean entry. */
  lookup(e) {
    const r = this.rows.get(e.path);
    if (!r || this.racyFromNs < 0) return void 0;
    if (r[3] !== e.size || r[6] !== e.mode || r[7] !== e.uid || r[8] !== e.gid || r[4] !== String(e.mtimeNs) || r[5] !== String(e.ctimeNs) || r[2] !== String(e.ino) || r[1] !== String(e.dev)) {
      return void 0;
    }
    if (e.mtimeNs >= this.racyFromNs || e.ctimeNs >= this.racyFromNs) return void 0;
    return r[9];
  }
  /** Records the content digest of an entry whose stat data was unchanged while it was read. */
  record(e, digestHex3) {
    this.rows.set(e.path, [e.path, String(e.dev), String(e.ino), e.size, String(e.mtimeNs), String(e.ctimeNs), e.mode, e.uid, e.gid, digestHex3]);
    this.dirty = true;
  }
  /** Drops entries whose path is not in `keep` (files deleted from the context). */
  prune(keep) {
    for (const p of this.rows.keys()) {
      if (!keep.has(p)) {
        this.rows.delete(p);
        this.dirty = true;
      }
    }
  }
  /** Writes the cache (temp file + rename) when it changed, then takes its mtime as the racy reference. */
  async save() {
    if (!this.dirty && this.racyFromNs >= 0) return;
    const entries = [...this.rows.values()];
    await (0, import_promises21.mkdir)(path7.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    await (0, import_promises21.writeFile)(tmp, JSON.stringify({ version: VERSION, context: this.contextDir, entries }));
    await (0, import_promises21.rename)(tmp, this.file);
    const st = await (0, import_promises21.stat)(this.file, { bigint: true });
    this.racyFromNs = st.mtimeNs / SECOND * SECOND;
    this.dirty = false;
  }
};

// packages/builder/src/context/hash.ts
var import_node_crypto13 = require("node:crypto");
var import_promises22 = require("node:fs/promises");
var path8 = __toESM(require("node:path"), 1);
var import_node_os4 = require("node:os");

// packages/builder/src/context/hash-workers.ts
var import_node_worker_threads = require("node:worker_threads");
var WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(256 * 1024);
parentPort.on('message', (jobs) => {
  const out = [];
  for (const [i, file, size, mtime, ctime, ino] of jobs) {
    try {
      const fd = fs.openSync(file, 'r');
      try {
        let hex, changed;
        for (let attempt = 0; ; attempt++) {
          const h = createHash('sha256');
          let total = 0, n;
          while ((n = fs.readSync(fd, buf, 0, buf.length, total)) > 0) {
            h.update(buf.subarray(0, n));
            total += n;
            if (attempt === 0 && total === size) break;
          }
          const st = fs.fstatSync(fd, { bigint: true });
          changed = String(st.mtimeNs) !== mtime || String(st.ctimeNs) !== ctime || Number(st.size) !== size || String(st.ino) !== ino;
          if (Number(st.size) === total || attempt > 0) { hex = h.digest('hex'); break; }
        }
        out.push([i, hex, changed, null]);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      out.push([i, null, true, String(e && e.message || e)]);
    }
  }
  parentPort.postMessage(out);
});
`;
async function hashFilesOnWorkers(files, threads, onRead) {
  const results = new Array(files.length);
  const BATCH = 64;
  let next = 0;
  const workers = Array.from({ length: Math.max(1, threads) }, () => new import_node_worker_threads.Worker(WORKER_SOURCE, { eval: true }));
  try {
    await Promise.all(
      workers.map(
        (w) => new Promise((resolve5, reject) => {
          const send = () => {
            if (next >= files.length) return resolve5();
            const jobs = [];
            for (const end = Math.min(files.length, next + BATCH); next < end; next++) {
              const f = files[next];
              onRead?.(f.entry.path);
              jobs.push([next, f.abs, f.entry.size, String(f.entry.mtimeNs), String(f.entry.ctimeNs), String(f.entry.ino)]);
            }
            w.postMessage(jobs);
          };
          w.on("message", (out) => {
            for (const [i, hex2, changed, err] of out) {
              if (err !== null || hex2 === null) return reject(new Error(`cannot read ${files[i].abs}: ${err}`));
              results[i] = { hex: hex2, changed };
            }
            send();
          });
          w.on("error", reject);
          send();
        })
      )
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

// packages/builder/src/context/hash.ts
var ENTRY_TAG = "build-image/context-entry/v1";
var TREE_TAG = "build-image/context-selection/v1";
var CHUNK = 256 * 1024;
var sha256 = (s) => `sha256:${(0, import_node_crypto13.createHash)("sha256").update(s).digest("hex")}`;
async function hashFileContent(absPath, expected, buffer = Buffer.allocUnsafe(CHUNK)) {
  const fh = await (0, import_promises22.open)(absPath, "r");
  try {
    for (let attempt = 0; ; attempt++) {
      const h = (0, import_node_crypto13.createHash)("sha256");
      let total = 0;
      for (; ; ) {
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, total);
        if (bytesRead === 0) break;
        h.update(buffer.subarray(0, bytesRead));
        total += bytesRead;
        if (attempt === 0 && expected && total === expected.size) break;
      }
      if (!expected) return { hex: h.digest("hex"), changed: false };
      const st = await fh.stat({ bigint: true });
      const changed = st.mtimeNs !== expected.mtimeNs || st.ctimeNs !== expected.ctimeNs || Number(st.size) !== expected.size || st.ino !== expected.ino;
      if (Number(st.size) === total || attempt > 0) return { hex: h.digest("hex"), changed };
    }
  } finally {
    await fh.close();
  }
}
function effectiveMode(e, chmod4) {
  if (e.type === "symlink") return 511;
  return chmod4 === void 0 ? e.mode : chmod4 & 511;
}
function hashEntry(sel, contentHex, options = {}) {
  const e = sel.entry;
  const owner = options.chown ?? (options.preserveOwner ? { uid: e.uid, gid: e.gid } : { uid: 0, gid: 0 });
  const isDev = e.type === "char-device" || e.type === "block-device";
  const frame = [
    ENTRY_TAG,
    sel.path,
    e.type,
    effectiveMode(e, options.chmod).toString(8),
    String(owner.uid),
    String(owner.gid),
    e.type === "symlink" ? e.linkTarget ?? "" : "",
    isDev ? e.rdev.toString() : "",
    e.type === "file" ? contentHex ?? "" : ""
  ];
  return sha256(frame.join("\0"));
}
async function hashSelection(selection, options = {}) {
  const ctxDir = selection.context.dir;
  const sc = options.statCache;
  const contents = /* @__PURE__ */ new Map();
  const toRead = /* @__PURE__ */ new Map();
  for (const s of selection.sources) {
    for (const m of s.matches) {
      for (const sel of m.entries) {
        const e = sel.entry;
        if (e.type !== "file" || contents.has(e.path) || toRead.has(e.path)) continue;
        const cached = sc?.lookup(e);
        if (cached !== void 0) contents.set(e.path, cached);
        else toRead.set(e.path, e);
      }
    }
  }
  const threads = options.workers ?? Math.min(4, (0, import_node_os4.availableParallelism)());
  if (toRead.size >= (options.workerThreshold ?? 512) && threads > 0) {
    const list = [...toRead.values()].map((e) => ({ abs: path8.join(ctxDir, e.path), entry: e }));
    const res = await hashFilesOnWorkers(list, threads, options.onRead);
    res.forEach((r, i) => {
      const e = list[i].entry;
      contents.set(e.path, r.hex);
      if (sc && !r.changed) sc.record(e, r.hex);
    });
  } else if (toRead.size > 0) {
    const limit = pLimit(options.concurrency ?? 8);
    const buffers = [];
    await Promise.all(
      [...toRead.values()].map(
        (e) => limit(async () => {
          const buf = buffers.pop() ?? Buffer.allocUnsafe(CHUNK);
          try {
            options.onRead?.(e.path);
            const r = await hashFileContent(path8.join(ctxDir, e.path), e, buf);
            contents.set(e.path, r.hex);
            if (sc && !r.changed) sc.record(e, r.hex);
          } finally {
            buffers.push(buf);
          }
        })
      )
    );
  }
  const files = [];
  const tree = (0, import_node_crypto13.createHash)("sha256").update(TREE_TAG);
  const perSource = [];
  for (const s of selection.sources) {
    const sh = (0, import_node_crypto13.createHash)("sha256").update(TREE_TAG + "/source");
    for (const m of s.matches) {
      sh.update(["match", m.matched.slice(m.matched.lastIndexOf("/") + 1), String(m.entries.length)].join("\0"));
      for (const sel of m.entries) {
        const hash = hashEntry(sel, contents.get(sel.entry.path), options);
        sh.update(hash);
        files.push({ path: sel.entry.path, copyPath: sel.path, hash, mode: effectiveMode(sel.entry, options.chmod) });
      }
    }
    const d = `sha256:${sh.digest("hex")}`;
    perSource.push({ source: s.source, digest: d });
    tree.update(d);
  }
  files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : a.copyPath < b.copyPath ? -1 : a.copyPath > b.copyPath ? 1 : 0);
  return { digest: `sha256:${tree.digest("hex")}`, files, sources: perSource };
}

// packages/builder/src/executor/seccomp.ts
var DENIED_SYSCALLS = Object.freeze([
  // Kernel code and the machine: modules, kexec, reboot.
  "init_module",
  "finit_module",
  "delete_module",
  "create_module",
  "query_module",
  "get_kernel_syms",
  "kexec_load",
  "kexec_file_load",
  "reboot",
  // Mounts and roots: runc has made the container's mounts before the filter applies.
  "mount",
  "umount",
  "umount2",
  "pivot_root",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "move_mount",
  "open_tree",
  "mount_setattr",
  // Entering or creating namespaces (clone with namespace flags: below).
  "setns",
  "unshare",
  // Host-wide state that no namespace isolates.
  "add_key",
  "keyctl",
  "request_key",
  "acct",
  "swapon",
  "swapoff",
  "quotactl",
  "quotactl_fd",
  "settimeofday",
  "stime",
  "clock_settime",
  "clock_settime64",
  "syslog",
  // Interfaces with a record of privilege escalations and no use in a build.
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "lookup_dcookie",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  // Opening files by handle bypasses the mount tree (the "shocker" escape).
  "open_by_handle_at",
  "name_to_handle_at",
  // Other processes' memory and the machine's memory policy.
  "process_vm_readv",
  "process_vm_writev",
  "kcmp",
  "mbind",
  "set_mempolicy",
  "migrate_pages",
  "move_pages",
  // Raw hardware access and obsolete calls.
  "iopl",
  "ioperm",
  "nfsservctl",
  "sysfs",
  "_sysctl",
  "uselib",
  "ustat",
  "vm86",
  "vm86old"
]);
var CLONE_NAMESPACE_FLAGS = Object.freeze([131072, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824]);
var EPERM = 1;
var ENOSYS = 38;
var ARCHITECTURES = Object.freeze({
  x64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
});
function sandboxSeccomp(arch = process.arch) {
  const cloneFlagsArg = arch === "s390x" ? 1 : 0;
  const rules = [
    { names: [...DENIED_SYSCALLS], action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to
    // clone, whose flags the rules below see (what Docker does too).
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    ...CLONE_NAMESPACE_FLAGS.map(
      (flag) => ({ names: ["clone"], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [{ index: cloneFlagsArg, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }] })
    )
  ];
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: [...ARCHITECTURES[arch] ?? []], syscalls: rules };
}

// packages/builder/src/executor/spec.ts
var DEFAULT_PATH2 = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
var DEFAULT_HOSTNAME = "buildkitsandbox";
var DEFAULT_CAPABILITIES = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE"
]);
var DEFAULT_MASKED_PATHS = Object.freeze([
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  "/proc/scsi"
]);
var DEFAULT_READONLY_PATHS = Object.freeze([
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger"
]);
var CAPABILITY_NAMES = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE"
]);
function capabilitiesFromMask(hex2) {
  const mask = BigInt(`0x${hex2.trim() || "0"}`);
  return CAPABILITY_NAMES.filter((_, bit) => mask >> BigInt(bit) & 1n);
}
var INSECURE_DEVICES = Object.freeze([
  { path: "/dev/kmsg", type: "c", major: 1, minor: 11 },
  { path: "/dev/cuse", type: "c", major: 10, minor: 203 },
  { path: "/dev/fuse", type: "c", major: 10, minor: 229 },
  { path: "/dev/kvm", type: "c", major: 10, minor: 232 },
  { path: "/dev/net/tun", type: "c", major: 10, minor: 200 },
  { path: "/dev/loop-control", type: "c", major: 10, minor: 237 },
  // BuildKit asks the kernel for the first free loop device and adds it plus 7; from its
  // fallback (first free = 0) that is loop0..loop7.
  ...Array.from({ length: 8 }, (_, i) => ({ path: `/dev/loop${i}`, type: "b", major: 7, minor: i }))
]);
function applyInsecure(spec, current) {
  const caps = [.../* @__PURE__ */ new Set([...spec.process.capabilities.bounding, ...current])];
  spec.process.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [...caps], ambient: [...caps] };
  spec.linux.maskedPaths = [];
  spec.linux.readonlyPaths = [];
  delete spec.linux.seccomp;
  spec.linux.resources = { ...spec.linux.resources, devices: [{ allow: true, type: "c", access: "rwm" }, { allow: true, type: "b", access: "rwm" }] };
  spec.linux.devices = [...spec.linux.devices ?? [], ...INSECURE_DEVICES.map((d) => ({ ...d }))];
  for (const m of spec.mounts) {
    if (m.destination === "/sys" || m.destination === "/sys/fs/cgroup") m.options = (m.options ?? []).map((o) => o === "ro" ? "rw" : o);
  }
}
function withDefaultPath(env) {
  return env.some((e) => e.startsWith("PATH=")) ? [...env] : [...env, `PATH=${DEFAULT_PATH2}`];
}
function buildRuntimeSpec(options) {
  const network = options.network ?? "host";
  const caps = [...DEFAULT_CAPABILITIES];
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (network === "none") namespaces.push({ type: "network" });
  const user = { uid: options.user.uid, gid: options.user.gid };
  user.additionalGids = options.user.additionalGids.includes(options.user.gid) ? [...options.user.additionalGids] : [options.user.gid, ...options.user.additionalGids];
  const spec = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user,
      args: [...options.args],
      env: withDefaultPath(options.env),
      cwd: options.cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      noNewPrivileges: false
    },
    root: { path: options.rootfs, readonly: false },
    hostname: options.hostname ?? DEFAULT_HOSTNAME,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", options.shmSize === void 0 ? "size=65536k" : `size=${options.shmSize}`] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
      { destination: "/etc/resolv.conf", type: "bind", source: options.resolvConfPath, options: ["nosuid", "noexec", "nodev", "rbind", "ro"] },
      { destination: "/etc/hosts", type: "bind", source: options.hostsPath, options: ["nosuid", "noexec", "nodev", "rbind", "ro"] },
      ...(options.mounts ?? []).map((m) => ({ ...m, ...m.options ? { options: [...m.options] } : {} }))
    ],
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      // runc adds /dev/null, zero, full, random, urandom and tty itself (bind-mounting them
      // when it runs in a user namespace), plus /dev/ptmx -> pts/ptmx and /dev/fd links.
      seccomp: sandboxSeccomp(options.arch)
    }
  };
  if (options.rlimits && options.rlimits.length > 0) spec.process.rlimits = options.rlimits.map((r) => ({ ...r }));
  if (options.security === "insecure") applyInsecure(spec, options.currentCapabilities ?? []);
  return spec;
}
function toRootlessSpec(spec, options = {}) {
  const out = structuredClone(spec);
  delete out.linux.resources;
  delete out.linux.cgroupsPath;
  delete out.linux.devices;
  const hasNetNs = out.linux.namespaces.some((n) => n.type === "network" && !n.path);
  const mounts = [];
  for (const m of out.mounts) {
    if (m.destination === "/sys" && m.type === "sysfs" && !hasNetNs) {
      const rw = (m.options ?? []).includes("rw") ? "rw" : "ro";
      mounts.push({ destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", rw] });
      continue;
    }
    if (m.destination === "/sys/fs/cgroup" && m.type === "cgroup") {
      if (hasNetNs) mounts.push(m);
      continue;
    }
    if (options.singleIdMapping && m.type === "devpts") {
      mounts.push({ ...m, options: (m.options ?? []).filter((o) => o !== "gid=5") });
      continue;
    }
    mounts.push(m);
  }
  out.mounts = mounts;
  if (options.singleIdMapping) delete out.process.user.additionalGids;
  return out;
}

// packages/builder/src/executor/etc-files.ts
function hostsFileContent(hostname = DEFAULT_HOSTNAME, extraHosts = []) {
  let out = `127.0.0.1	localhost ${hostname || DEFAULT_HOSTNAME}
::1	localhost ip6-localhost ip6-loopback
`;
  for (const h of extraHosts) out += `${h.ip}	${h.host}
`;
  return out;
}
var LOCALHOST_NS = /^nameserver\s+((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)\s*\n*/gm;
var NAMESERVER = /^\s*nameserver\s*(\S+)/gm;
function nameservers(resolvConf) {
  return [...resolvConf.matchAll(NAMESERVER)].map((m) => m[1]);
}
function filterResolvDns(resolvConf) {
  let cleaned = resolvConf.replace(LOCALHOST_NS, "");
  if (nameservers(cleaned).length === 0) {
    cleaned += "\n" + ["nameserver 8.8.8.8", "nameserver 8.8.4.4", "nameserver 2001:4860:4860::8888", "nameserver 2001:4860:4860::8844"].join("\n");
  }
  return cleaned;
}
function resolvConfContent(hostResolvConf, network) {
  if (network !== "host" || nameservers(hostResolvConf).length === 0) return filterResolvDns(hostResolvConf);
  return hostResolvConf;
}

// packages/builder/src/executor/user.ts
var import_node_fs13 = require("node:fs");

// packages/builder/src/executor/root-path.ts
var import_node_fs12 = require("node:fs");
var import_node_path13 = __toESM(require("node:path"), 1);
var MAX_SYMLINKS3 = 255;
async function resolveInRoot2(root, unsafePath) {
  const pending2 = unsafePath.split("/").filter((c) => c !== "" && c !== ".");
  const resolved2 = [];
  let links = 0;
  while (pending2.length > 0) {
    const part = pending2.shift();
    if (part === "..") {
      resolved2.pop();
      continue;
    }
    const candidate = import_node_path13.default.join(root, ...resolved2, part);
    let st;
    try {
      st = (0, import_node_fs12.lstatSync)(candidate);
    } catch {
      resolved2.push(part, ...pending2);
      return import_node_path13.default.join(root, ...normalise([...resolved2]));
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS3) throw Object.assign(new Error(`too many symlinks resolving ${unsafePath}`), { code: "ELOOP" });
      const target = (0, import_node_fs12.readlinkSync)(candidate);
      const parts = target.split("/").filter((c) => c !== "" && c !== ".");
      if (target.startsWith("/")) resolved2.length = 0;
      pending2.unshift(...parts);
      continue;
    }
    resolved2.push(part);
  }
  return import_node_path13.default.join(root, ...resolved2);
}
function normalise(parts) {
  const out = [];
  for (const p of parts) {
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out;
}

// packages/builder/src/executor/errors.ts
var RuntimeUnsupportedError = class extends BuildError {
  name = "RuntimeUnsupportedError";
  constructor(message, data = {}, cause) {
    super("E_RUNTIME_UNSUPPORTED", message, { data, cause });
  }
};
var RuntimeNotFoundError = class extends BuildError {
  name = "RuntimeNotFoundError";
  constructor(runtime) {
    super(
      "E_RUNTIME_NOT_FOUND",
      `The OCI runtime "${runtime}" was not found in PATH. Install it (apt-get install -y ${runtime}) or choose another runtime.`,
      { data: { runtime } }
    );
  }
};
var RuntimeFailedError = class extends BuildError {
  name = "RuntimeFailedError";
  constructor(message, data = {}) {
    super("E_RUNTIME_FAILED", message, { data });
  }
};
var UserNotFoundError = class extends BuildError {
  name = "UserNotFoundError";
  constructor(message, data = {}) {
    super("E_USER_NOT_FOUND", message, { data });
  }
};
var ExecAbortedError = class extends BuildError {
  name = "ExecAbortedError";
  constructor(args) {
    super("E_RUN_ABORTED", `process "${args.join(" ")}" was cancelled`, { data: { args: [...args] } });
  }
};

// packages/builder/src/executor/user.ts
var NUMERIC = /^[0-9]+$/;
var MAX_ID = 2 ** 31 - 1;
function parseId(s) {
  if (!NUMERIC.test(s)) return void 0;
  const n = Number(s);
  return n <= MAX_ID ? n : void 0;
}
function parsePasswd(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const f = t.split(":");
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (f[0] === void 0 || uid === void 0) continue;
    out.push({ name: f[0], uid, gid: gid ?? 0 });
  }
  return out;
}
function parseGroup(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const f = t.split(":");
    const gid = parseId(f[2] ?? "");
    if (f[0] === void 0 || gid === void 0) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}
async function readInRoot(rootfs, file2) {
  try {
    return (0, import_node_fs13.readFileSync)(await resolveInRoot2(rootfs, file2), "utf8");
  } catch {
    return void 0;
  }
}
function resolveUserFrom(userSpec, passwdText, groupText) {
  const spec = userSpec.trim();
  if (spec === "") return { uid: 0, gid: 0, additionalGids: [] };
  const colon = spec.indexOf(":");
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? void 0 : spec.slice(colon + 1);
  if (groupPart !== void 0 && parseId(userPart) !== void 0 && parseId(groupPart) !== void 0) {
    return { uid: parseId(userPart), gid: parseId(groupPart), additionalGids: [] };
  }
  const passwd = passwdText === void 0 ? [] : parsePasswd(passwdText);
  const groups = groupText === void 0 ? [] : parseGroup(groupText);
  let uid;
  let gid = 0;
  let name = "";
  const numericUid = parseId(userPart);
  const byName = passwd.find((p) => p.name === userPart);
  const entry = byName ?? (numericUid !== void 0 ? passwd.find((p) => p.uid === numericUid) : void 0);
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  } else if (numericUid !== void 0) {
    uid = numericUid;
  } else {
    throw new UserNotFoundError(
      `unable to find user ${userPart}: no matching entries in passwd file. Create the user in an earlier step (e.g. RUN adduser) or use a numeric uid.`,
      { user: userPart }
    );
  }
  if (groupPart !== void 0 && groupPart !== "") {
    const numericGid = parseId(groupPart);
    const g = groups.find((x) => x.name === groupPart) ?? (numericGid !== void 0 ? groups.find((x) => x.gid === numericGid) : void 0);
    if (g) gid = g.gid;
    else if (numericGid !== void 0) gid = numericGid;
    else
      throw new UserNotFoundError(`unable to find group ${groupPart}: no matching entries in group file. Create the group first or use a numeric gid.`, {
        group: groupPart
      });
    return { uid, gid, additionalGids: [] };
  }
  const additionalGids = [];
  if (name !== "") {
    for (const g of groups) if (g.members.includes(name) && !additionalGids.includes(g.gid)) additionalGids.push(g.gid);
  }
  return { uid, gid, additionalGids };
}
async function resolveUser(rootfs, userSpec) {
  const spec = userSpec.trim();
  if (spec === "") return { uid: 0, gid: 0, additionalGids: [] };
  return resolveUserFrom(spec, await readInRoot(rootfs, "/etc/passwd"), await readInRoot(rootfs, "/etc/group"));
}

// packages/builder/src/executor/mounts.ts
var import_node_fs14 = require("node:fs");
var import_promises23 = require("node:fs/promises");
var import_node_path14 = __toESM(require("node:path"), 1);
var OVERLAY_UNSAFE = /[,:\\]/;
async function ensureCacheDir(m) {
  try {
    const st = await (0, import_promises23.stat)(m.hostDir);
    if (!st.isDirectory()) throw new Error(`cache mount source ${m.hostDir} is not a directory`);
    return;
  } catch (e) {
    if (e.code !== "ENOENT") throw e;
  }
  await (0, import_promises23.mkdir)(import_node_path14.default.dirname(m.hostDir), { recursive: true });
  await (0, import_promises23.mkdir)(m.hostDir, { mode: 493 }).catch((e) => {
    if (e.code !== "EEXIST") throw e;
  });
  await (0, import_promises23.chown)(m.hostDir, m.uid ?? 0, m.gid ?? 0);
  await (0, import_promises23.chmod)(m.hostDir, m.mode ?? 493);
}
async function prepareMounts(mounts, options) {
  const out = [];
  const targets = [];
  let n = 0;
  for (const m of mounts) {
    const target = import_node_path14.default.posix.join("/", m.target);
    targets.push(target);
    const idx = n++;
    switch (m.type) {
      case "bind": {
        if (m.readonly ?? true) {
          out.push({ destination: target, type: "bind", source: m.source, options: ["rbind", "ro"] });
          break;
        }
        const st = await (0, import_promises23.stat)(m.source);
        const base = import_node_path14.default.join(options.scratchDir, `bind-${idx}`);
        if (st.isDirectory() && !OVERLAY_UNSAFE.test(m.source) && !OVERLAY_UNSAFE.test(base)) {
          await (0, import_promises23.mkdir)(import_node_path14.default.join(base, "upper"), { recursive: true });
          await (0, import_promises23.mkdir)(import_node_path14.default.join(base, "work"), { recursive: true });
          const opts = [`lowerdir=${m.source}`, `upperdir=${import_node_path14.default.join(base, "upper")}`, `workdir=${import_node_path14.default.join(base, "work")}`];
          if (options.rootless) opts.push("userxattr");
          out.push({ destination: target, type: "overlay", source: "overlay", options: opts });
        } else {
          await (0, import_promises23.mkdir)(base, { recursive: true });
          const copy = import_node_path14.default.join(base, "copy");
          if (st.isDirectory()) await (0, import_promises23.cp)(m.source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
          else await (0, import_promises23.copyFile)(m.source, copy);
          out.push({ destination: target, type: "bind", source: copy, options: ["rbind", "rw"] });
        }
        break;
      }
      case "cache":
        await ensureCacheDir(m);
        out.push({ destination: target, type: "bind", source: m.hostDir, options: ["rbind", m.readonly ? "ro" : "rw"] });
        break;
      case "tmpfs": {
        const opts = ["nosuid"];
        if (m.size !== void 0 && m.size > 0) opts.push(`size=${m.size}`);
        out.push({ destination: target, type: "tmpfs", source: "tmpfs", options: opts });
        break;
      }
      case "secret": {
        await (0, import_promises23.mkdir)(options.secretsDir, { recursive: true, mode: 448 });
        const file2 = import_node_path14.default.join(options.secretsDir, `secret-${idx}`);
        if (m.content === void 0 && m.hostFile === void 0) throw new Error(`secret mount at ${target} has neither hostFile nor content`);
        const data = m.content !== void 0 ? m.content : await (0, import_promises23.readFile)(m.hostFile);
        await (0, import_promises23.writeFile)(file2, data, { mode: 384 });
        await (0, import_promises23.chown)(file2, m.uid ?? 0, m.gid ?? 0);
        await (0, import_promises23.chmod)(file2, m.mode ?? 256);
        out.push({ destination: target, type: "bind", source: file2, options: ["rbind", "ro", "nosuid", "nodev", "noexec"] });
        break;
      }
      case "ssh": {
        await (0, import_promises23.lstat)(m.socketPath);
        out.push({ destination: target, type: "bind", source: m.socketPath, options: ["rbind"] });
        break;
      }
    }
  }
  return { mounts: out, targets };
}
async function cleanupPreparedMounts(options) {
  (0, import_node_fs14.rmSync)(options.secretsDir, { recursive: true, force: true });
  (0, import_node_fs14.rmSync)(options.scratchDir, { recursive: true, force: true });
}

// packages/builder/src/executor/stubs.ts
var import_node_fs15 = require("node:fs");
var import_promises24 = require("node:fs/promises");
var import_node_path15 = __toESM(require("node:path"), 1);
var RUNTIME_MOUNT_POINTS = ["/proc", "/dev", "/sys"];
async function exists(p) {
  try {
    (0, import_node_fs15.lstatSync)(p);
    return true;
  } catch {
    return false;
  }
}
async function missingChain(rootfs, target) {
  const clean = import_node_path15.default.posix.join("/", target);
  if (clean === "/") return [];
  let real;
  try {
    real = await resolveInRoot2(rootfs, clean);
  } catch {
    return [];
  }
  if (await exists(real)) return [];
  const chain2 = [real];
  let cur = real;
  while (true) {
    const parent = import_node_path15.default.dirname(cur);
    if (parent === cur || parent.length <= rootfs.length || await exists(parent)) break;
    chain2.unshift(parent);
    cur = parent;
  }
  const out = [];
  const top = chain2[0];
  let parentAtime = /* @__PURE__ */ new Date(0);
  let parentMtime = /* @__PURE__ */ new Date(0);
  try {
    const st = await (0, import_promises24.lstat)(import_node_path15.default.dirname(top));
    parentAtime = st.atime;
    parentMtime = st.mtime;
  } catch {
  }
  for (const p of chain2) out.push({ hostPath: p, parentAtime, parentMtime });
  return out;
}
async function recordMountStubs(rootfs, targets) {
  const cleanable = [];
  const seen = /* @__PURE__ */ new Set();
  for (const t of targets) {
    for (const r of await missingChain(rootfs, t)) {
      if (seen.has(r.hostPath)) continue;
      seen.add(r.hostPath);
      cleanable.push(r);
    }
  }
  const runtime = [];
  for (const t of RUNTIME_MOUNT_POINTS) if (!await exists(import_node_path15.default.join(rootfs, t))) runtime.push(import_node_path15.default.join(rootfs, t));
  return {
    async cleanup() {
      const ordered = [...cleanable].sort((a, b) => b.hostPath.length - a.hostPath.length);
      for (const r of ordered) {
        let st;
        try {
          st = await (0, import_promises24.lstat)(r.hostPath);
        } catch {
          continue;
        }
        try {
          if (st.isDirectory()) {
            if ((await (0, import_promises24.readdir)(r.hostPath)).length !== 0) continue;
            await (0, import_promises24.rmdir)(r.hostPath);
          } else {
            if (st.size !== 0) continue;
            await (0, import_promises24.unlink)(r.hostPath);
          }
        } catch {
          continue;
        }
        const parent = import_node_path15.default.dirname(r.hostPath);
        if (!seen.has(parent)) await (0, import_promises24.utimes)(parent, r.parentAtime, r.parentMtime).catch(() => void 0);
      }
      const left = [];
      for (const p of runtime) if (await exists(p)) left.push(import_node_path15.default.relative(rootfs, p));
      return left;
    }
  };
}

// packages/builder/src/executor/runc.ts
var import_node_child_process4 = require("node:child_process");
var import_node_crypto15 = require("node:crypto");
var import_node_fs18 = require("node:fs");
var import_promises25 = require("node:fs/promises");
var import_node_os5 = __toESM(require("node:os"), 1);
var import_node_path17 = __toESM(require("node:path"), 1);

// packages/builder/src/executor/state-dir.ts
var import_node_crypto14 = require("node:crypto");
var import_node_fs16 = require("node:fs");
var import_node_path16 = __toESM(require("node:path"), 1);
function isOurs(st) {
  return st.isDirectory() && st.uid === process.getuid?.();
}
function runtimeStateDir(cacheDir, tmpfs = "/dev/shm") {
  const onDisk = import_node_path16.default.join(cacheDir, "runtime");
  const dir = tmpfsStateDir(cacheDir, tmpfs);
  try {
    const st = (0, import_node_fs16.lstatSync)(dir);
    return isOurs(st) && (st.mode & 63) === 0 ? dir : onDisk;
  } catch (e) {
    if (e.code !== "ENOENT") return onDisk;
  }
  try {
    (0, import_node_fs16.accessSync)(tmpfs, import_node_fs16.constants.W_OK | import_node_fs16.constants.X_OK);
    return (0, import_node_fs16.lstatSync)(tmpfs).isDirectory() ? dir : onDisk;
  } catch {
    return onDisk;
  }
}
function tmpfsStateDir(cacheDir, tmpfs = "/dev/shm") {
  return import_node_path16.default.join(tmpfs, `build-image-state-${(0, import_node_crypto14.createHash)("sha256").update(import_node_path16.default.resolve(cacheDir)).digest("hex").slice(0, 16)}`);
}
function ensureStateDir(dir) {
  (0, import_node_fs16.mkdirSync)(dir, { recursive: true, mode: 448 });
  const st = (0, import_node_fs16.lstatSync)(dir);
  if (!isOurs(st)) throw new Error(`the runtime state dir ${dir} is not a directory owned by this user`);
  if ((st.mode & 63) !== 0) (0, import_node_fs16.chmodSync)(dir, 448);
}
function removeStateDir(dir, subdirs) {
  for (const d of [...subdirs.map((s) => import_node_path16.default.join(dir, s)), dir]) {
    try {
      (0, import_node_fs16.rmdirSync)(d);
    } catch {
    }
  }
}

// packages/builder/src/rootless/idmap.ts
var import_node_fs17 = require("node:fs");
function parseIdMap(text) {
  return text.split("\n").map((l) => l.trim().split(/\s+/).map(Number)).filter((f) => f.length === 3 && f.every((x) => Number.isFinite(x))).map(([inside, outside, size]) => ({ inside, outside, size }));
}
function runningInUserNamespace() {
  try {
    const ext = parseIdMap((0, import_node_fs17.readFileSync)("/proc/self/uid_map", "utf8"));
    return !(ext.length === 1 && ext[0]?.inside === 0 && ext[0]?.outside === 0 && ext[0]?.size === 4294967295);
  } catch {
    return false;
  }
}
function mappedIdCount() {
  try {
    return parseIdMap((0, import_node_fs17.readFileSync)("/proc/self/uid_map", "utf8")).reduce((a, e) => a + e.size, 0);
  } catch {
    return 0;
  }
}

// packages/builder/src/executor/runc.ts
function which(bin) {
  for (const dir of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = import_node_path17.default.join(dir, bin);
    if (dir && (0, import_node_fs18.existsSync)(p)) return p;
  }
  return void 0;
}
async function runtimeErrors(logFile) {
  let text;
  try {
    text = (0, import_node_fs18.readFileSync)(logFile, "utf8");
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line);
      if ((j.level === "error" || j.level === "fatal") && j.msg) out.push(j.msg);
    } catch {
      if (/error/i.test(line)) out.push(line.trim());
    }
  }
  return out;
}
var HYBRID_CGROUP = /cgroups? in hybrid mode not supported/i;
var ABANDONED_AFTER_MS = 6e4;
var Tail = class {
  constructor(max) {
    this.max = max;
  }
  max;
  lines = [];
  partial = "";
  push(chunk) {
    const parts = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  result() {
    const all = this.partial ? [...this.lines, this.partial] : [...this.lines];
    return all.slice(-this.max);
  }
};
var RuncExecutor = class {
  opts;
  runtime;
  rootless;
  constructor(options) {
    this.opts = options;
    this.runtime = options.runtime ?? "runc";
    this.rootless = options.rootless ?? runningInUserNamespace();
  }
  /** The runtime's `--root` directory (where `runc list` looks). */
  get runtimeRoot() {
    return import_node_path17.default.join(this.opts.stateDir, this.runtime);
  }
  binary() {
    const p = this.opts.runtimePath ?? which(this.runtime);
    if (!p) throw new RuntimeNotFoundError(this.runtime);
    return p;
  }
  async run(step) {
    if (step.signal?.aborted) throw new ExecAbortedError(step.args);
    const bin = this.binary();
    const id = `bi-${(0, import_node_crypto15.randomBytes)(8).toString("hex")}`;
    const runDir = import_node_path17.default.join(this.opts.stateDir, "runs", id);
    const bundle = import_node_path17.default.join(runDir, "bundle");
    const secretsRoot = this.secretsRoot();
    const mountOpts = { scratchDir: import_node_path17.default.join(runDir, "mounts"), secretsDir: import_node_path17.default.join(secretsRoot, `build-image-${id}`), rootless: this.rootless };
    (0, import_node_fs18.mkdirSync)(bundle, { recursive: true, mode: 448 });
    ensureStateDir(this.opts.stateDir);
    if (!this.swept) {
      this.swept = true;
      this.sweepAbandonedRuns();
    }
    (0, import_node_fs18.mkdirSync)(this.runtimeRoot, { recursive: true, mode: 448 });
    let cleanupStubs;
    try {
      const user = await resolveUser(step.rootfs, step.user);
      await this.ensureCwd(step.rootfs, step.cwd, user.uid, user.gid);
      const prepared = await prepareMounts(step.mounts ?? [], mountOpts);
      const stubs = await recordMountStubs(step.rootfs, ["/etc/resolv.conf", "/etc/hosts", ...prepared.targets]);
      cleanupStubs = () => stubs.cleanup();
      const network = step.network ?? "host";
      const hostsPath = import_node_path17.default.join(runDir, "hosts");
      const resolvPath = import_node_path17.default.join(runDir, "resolv.conf");
      (0, import_node_fs18.writeFileSync)(hostsPath, hostsFileContent(void 0, step.extraHosts ?? []), { mode: 420 });
      (0, import_node_fs18.writeFileSync)(resolvPath, resolvConfContent(await this.hostResolvConf(network), network), { mode: 420 });
      let spec = buildRuntimeSpec({
        rootfs: import_node_path17.default.resolve(step.rootfs),
        args: step.args,
        env: step.env,
        cwd: step.cwd,
        user,
        network,
        hostsPath,
        resolvConfPath: resolvPath,
        mounts: prepared.mounts,
        ...this.opts.rlimits ? { rlimits: this.opts.rlimits } : {},
        ...this.opts.shmSize !== void 0 ? { shmSize: this.opts.shmSize } : {},
        ...step.security === "insecure" ? { security: "insecure", currentCapabilities: await currentCapabilities() } : {}
      });
      if (this.rootless) spec = toRootlessSpec(spec, { singleIdMapping: mappedIdCount() <= 1 });
      (0, import_node_fs18.writeFileSync)(import_node_path17.default.join(bundle, "config.json"), JSON.stringify(spec, null, 2));
      return await this.spawnRuntime(bin, id, bundle, import_node_path17.default.join(runDir, "runtime.log"), step, cleanupStubs);
    } finally {
      await this.forceDelete(bin, id);
      await cleanupPreparedMounts(mountOpts).catch(() => void 0);
      try {
        (0, import_node_fs18.rmSync)(runDir, { recursive: true, force: true });
      } catch {
      }
    }
  }
  /** Whether this executor has looked for runs abandoned by killed builds. */
  swept = false;
  secretsRoot() {
    return this.opts.secretsRoot ?? ((0, import_node_fs18.existsSync)("/dev/shm") ? "/dev/shm" : import_node_path17.default.join(this.opts.stateDir, "secrets"));
  }
  /**
   * Removes the bundles (and secret files) of RUNs whose build was killed (SIGKILL, a lost
   * machine): they are otherwise removed right after the RUN, and a bundle holds the RUN's
   * environment, `env=` secrets included. A run is abandoned when no runtime knows its container
   * and it is older than a minute; a RUN of a build beside this one has its container from a few
   * ms after its bundle is written until a few ms before the bundle goes.
   */
  sweepAbandonedRuns() {
    const runs = import_node_path17.default.join(this.opts.stateDir, "runs");
    let ids;
    try {
      ids = (0, import_node_fs18.readdirSync)(runs);
    } catch {
      return;
    }
    const cutoff = Date.now() - ABANDONED_AFTER_MS;
    let mounted = [];
    try {
      mounted = (0, import_node_fs18.readFileSync)("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "");
    } catch {
      return;
    }
    const secretsRoot = this.secretsRoot();
    for (const id of ids) {
      if (!/^bi-[0-9a-f]{16}$/.test(id)) continue;
      if (["runc", "crun"].some((rt) => (0, import_node_fs18.existsSync)(import_node_path17.default.join(this.opts.stateDir, rt, id)))) continue;
      const dir = import_node_path17.default.join(runs, id);
      if (mounted.some((m) => m === dir || m.startsWith(dir + "/"))) continue;
      try {
        if ((0, import_node_fs18.statSync)(dir).mtimeMs > cutoff) continue;
        (0, import_node_fs18.rmSync)(dir, { recursive: true, force: true });
        (0, import_node_fs18.rmSync)(import_node_path17.default.join(secretsRoot, `build-image-${id}`), { recursive: true, force: true });
      } catch {
      }
    }
  }
  /**
   * Removes what is left of the state dir once the build's RUNs are done (nothing, unless a
   * build beside this one shares the cache dir and is still running).
   */
  close() {
    removeStateDir(this.opts.stateDir, ["runs", this.runtime, "secrets"]);
  }
  async hostResolvConf(network) {
    const file2 = this.opts.hostResolvConf ?? "/etc/resolv.conf";
    let text = "";
    try {
      text = (0, import_node_fs18.readFileSync)(file2, "utf8");
    } catch {
      return "";
    }
    if (network !== "host" && this.opts.hostResolvConf === void 0) {
      const ns = nameservers(text);
      if (ns.length > 0 && ns.every((n) => n === "127.0.0.53")) {
        try {
          text = await (0, import_promises25.readFile)("/run/systemd/resolve/resolv.conf", "utf8");
        } catch {
        }
      }
    }
    return text;
  }
  /** Creates a missing working directory, owned by the RUN's user (BuildKit does the same). */
  async ensureCwd(rootfs, cwd, uid, gid) {
    const parts = import_node_path17.default.posix.normalize(import_node_path17.default.posix.join("/", cwd)).split("/").filter(Boolean);
    let cur = "/";
    for (const part of parts) {
      cur = import_node_path17.default.posix.join(cur, part);
      const host = await resolveInRoot2(rootfs, cur);
      try {
        const st = await (0, import_promises25.lstat)(host);
        if (!st.isDirectory()) return;
      } catch {
        await (0, import_promises25.mkdir)(host, { mode: 493 });
        await (0, import_promises25.chown)(host, uid, gid);
      }
    }
  }
  spawnRuntime(bin, id, bundle, logFile, step, cleanupStubs) {
    const tail = new Tail(this.opts.tailLines ?? 20);
    const started = performance.now();
    const args = ["--root", this.runtimeRoot, "--log", logFile, "--log-format", "json", "run", "--bundle", bundle, id];
    const launched = helperSpawn([bin, ...args], bundle);
    return launched.then((viaHelper) => this.watchRuntime(viaHelper ?? (0, import_node_child_process4.spawn)(bin, args, { stdio: ["ignore", "pipe", "pipe"], cwd: bundle }), bin, id, logFile, step, cleanupStubs, tail, started));
  }
  watchRuntime(child, bin, id, logFile, step, cleanupStubs, tail, started) {
    return new Promise((resolve5, reject) => {
      let aborted = false;
      let stderrText = "";
      const onAbort = () => {
        aborted = true;
        void this.killUntilGone(bin, id, child);
      };
      step.signal?.addEventListener("abort", onAbort, { once: true });
      const forward = (name) => (chunk) => {
        tail.push(chunk);
        if (name === "stderr" && stderrText.length < 65536) stderrText += chunk.toString("utf8");
        step.onOutput?.(name, chunk);
        const sink = name === "stdout" ? step.stdout : step.stderr;
        const stream = name === "stdout" ? child.stdout : child.stderr;
        if (sink && !sink.write(chunk)) {
          stream.pause();
          sink.once("drain", () => stream.resume());
        }
      };
      child.stdout.on("data", forward("stdout"));
      child.stderr.on("data", forward("stderr"));
      child.on("error", (err) => {
        step.signal?.removeEventListener("abort", onAbort);
        reject(err);
      });
      child.on("close", (code, sig) => {
        step.signal?.removeEventListener("abort", onAbort);
        void (async () => {
          const durationMs = performance.now() - started;
          const mountStubs = await cleanupStubs().catch(() => []);
          if (aborted) return reject(new ExecAbortedError(step.args));
          const errors = await runtimeErrors(logFile);
          const all = [...errors, stderrText].join("\n");
          if (HYBRID_CGROUP.test(all)) {
            return reject(
              new RuntimeUnsupportedError(
                `${this.runtime} cannot run on this host: its cgroups are in hybrid mode (cgroup v1 controllers plus a cgroup v2 mount at /sys/fs/cgroup/unified), which ${this.runtime} refuses. Use --oci-runtime runc, or boot the host with unified cgroups (systemd.unified_cgroup_hierarchy=1).`,
                { runtime: this.runtime, runtimeMessage: errors.join("\n") || stderrText.trim() }
              )
            );
          }
          if (errors.length > 0) {
            return reject(
              new RuntimeFailedError(`${this.runtime} failed to run "${step.args.join(" ")}": ${errors[errors.length - 1]}`, {
                runtime: this.runtime,
                messages: errors,
                exitCode: code
              })
            );
          }
          const exitCode = code ?? (sig ? 128 + (import_node_os5.default.constants.signals[sig] ?? 0) : 255);
          resolve5({ exitCode, tail: tail.result(), mountStubs, durationMs });
        })();
      });
    });
  }
  /** `runc kill` may race with container creation; retry until the runtime process is gone. */
  async killUntilGone(bin, id, child) {
    for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null; i++) {
      await this.exec(bin, ["--root", this.runtimeRoot, "kill", id, "KILL"]);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  async forceDelete(bin, id) {
    if (!(0, import_node_fs18.existsSync)(import_node_path17.default.join(this.runtimeRoot, id))) return;
    await this.exec(bin, ["--root", this.runtimeRoot, "delete", "--force", id]);
  }
  exec(bin, args) {
    return new Promise((resolve5) => {
      const c = (0, import_node_child_process4.spawn)(bin, args, { stdio: "ignore" });
      c.on("error", () => resolve5(-1));
      c.on("close", (code) => resolve5(code ?? -1));
    });
  }
};
async function currentCapabilities() {
  const status = await (0, import_promises25.readFile)("/proc/self/status", "utf8");
  return capabilitiesFromMask(/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0");
}

// packages/builder/src/auth/docker-config.ts
var import_node_child_process5 = require("node:child_process");
var import_promises26 = require("node:fs/promises");
var import_node_os6 = __toESM(require("node:os"), 1);
var import_node_path18 = __toESM(require("node:path"), 1);

// packages/builder/src/auth/errors.ts
var CredentialsError = class extends BuildError {
  name = "CredentialsError";
  constructor(message, data, cause) {
    super("E_CREDENTIALS", message, { data: { ...data }, cause });
  }
};

// packages/builder/src/auth/docker-config.ts
var DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/";
function keyToHost(key) {
  let s = key.replace(/^https?:\/\//, "");
  const slash = s.indexOf("/");
  if (slash >= 0) s = s.slice(0, slash);
  return s;
}
function isDockerHub(registry) {
  return registry === "docker.io" || registry === "index.docker.io" || registry === "registry-1.docker.io";
}
var DockerConfigCredentialStore = class {
  env;
  dir;
  timeoutMs;
  config;
  cache = /* @__PURE__ */ new Map();
  constructor(options = {}) {
    this.env = options.env ?? process.env;
    this.dir = options.configDir ?? this.env.DOCKER_CONFIG ?? import_node_path18.default.join(this.env.HOME ?? import_node_os6.default.homedir(), ".docker");
    this.timeoutMs = options.helperTimeoutMs ?? 3e4;
  }
  /** Path of the config file this store reads. */
  get configFile() {
    return import_node_path18.default.join(this.dir, "config.json");
  }
  async get(registry) {
    let p = this.cache.get(registry);
    if (!p) {
      p = this.lookup(registry);
      this.cache.set(registry, p);
      p.catch(() => this.cache.delete(registry));
    }
    return p;
  }
  load() {
    this.config ??= (async () => {
      let text;
      try {
        text = await (0, import_promises26.readFile)(this.configFile, "utf8");
      } catch (e) {
        if (e.code === "ENOENT") return {};
        throw new CredentialsError(`cannot read ${this.configFile}: ${e.message}`, { configFile: this.configFile }, e);
      }
      try {
        const parsed2 = JSON.parse(text);
        return typeof parsed2 === "object" && parsed2 !== null ? parsed2 : {};
      } catch (e) {
        throw new CredentialsError(
          `${this.configFile} is not valid JSON (${e.message}): fix or remove it, or point DOCKER_CONFIG elsewhere`,
          { configFile: this.configFile },
          e
        );
      }
    })();
    return this.config;
  }
  async lookup(registry) {
    const config = await this.load();
    const hub = isDockerHub(registry);
    const keys = hub ? [DOCKER_HUB_CONFIG_KEY, "docker.io", "index.docker.io", "registry-1.docker.io"] : [registry];
    const serverUrl = hub ? DOCKER_HUB_CONFIG_KEY : registry;
    for (const key of keys) {
      const helper2 = config.credHelpers?.[key];
      if (helper2) return this.runHelper(helper2, serverUrl, registry);
    }
    if (config.credsStore) {
      const found = await this.runHelper(config.credsStore, serverUrl, registry);
      if (found) return found;
    }
    const auths = config.auths ?? {};
    for (const key of keys) {
      const entry = auths[key] ?? Object.entries(auths).find(([k]) => keyToHost(k) === key)?.[1];
      if (entry) return this.fromEntry(entry, registry);
    }
    return void 0;
  }
  fromEntry(entry, registry) {
    const creds = {};
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      if (i < 0) {
        throw new CredentialsError(
          `the "auth" entry for ${registry} in ${this.configFile} is not base64 of "user:password": run docker login ${registry} again`,
          { registry, configFile: this.configFile }
        );
      }
      creds.username = decoded.slice(0, i);
      creds.password = decoded.slice(i + 1);
    } else {
      if (entry.username !== void 0) creds.username = entry.username;
      if (entry.password !== void 0) creds.password = entry.password;
    }
    if (entry.identitytoken) creds.identityToken = entry.identitytoken;
    if (entry.registrytoken) creds.registryToken = entry.registrytoken;
    return Object.keys(creds).length > 0 ? creds : void 0;
  }
  /** Runs `docker-credential-<name> get` with the server URL on stdin. */
  runHelper(name, serverUrl, registry) {
    const program = `docker-credential-${name}`;
    return new Promise((resolve5, reject) => {
      const child = (0, import_node_child_process5.spawn)(program, ["get"], { env: this.env, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), this.timeoutMs);
      child.stdout.on("data", (d) => out += d.toString());
      child.stderr.on("data", (d) => err += d.toString());
      child.on("error", (e) => {
        clearTimeout(timer);
        const hint = e.code === "ENOENT" ? `${program} is not on PATH: install it or remove "${name}" from ${this.configFile}` : e.message;
        reject(new CredentialsError(`credential helper for ${registry} failed: ${hint}`, { registry, helper: program, configFile: this.configFile }, e));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (code !== 0) {
          const text = (out + err).trim();
          if (/credentials not found/i.test(text)) return resolve5(void 0);
          return reject(
            new CredentialsError(
              `credential helper ${program} failed for ${registry} (${signal ? `killed by ${signal}` : `exit ${code}`}): ${text || "no output"}`,
              { registry, helper: program, configFile: this.configFile }
            )
          );
        }
        let parsed2;
        try {
          parsed2 = JSON.parse(out);
        } catch (e) {
          return reject(new CredentialsError(`credential helper ${program} printed invalid JSON for ${registry}`, { registry, helper: program }, e));
        }
        if (!parsed2.Secret && !parsed2.Username) return resolve5(void 0);
        if (parsed2.Username === "<token>") return resolve5({ identityToken: parsed2.Secret ?? "" });
        resolve5({ username: parsed2.Username ?? "", password: parsed2.Secret ?? "" });
      });
      child.stdin.on("error", () => void 0);
      child.stdin.end(serverUrl);
    });
  }
};

// packages/builder/src/snapshot/overlay.ts
var import_node_crypto17 = require("node:crypto");
var import_node_child_process8 = require("node:child_process");
var import_promises28 = require("node:fs/promises");
var import_node_fs19 = require("node:fs");
var import_node_path20 = __toESM(require("node:path"), 1);
var import_node_util5 = require("node:util");

// packages/builder/src/snapshot/mount.ts
var import_node_child_process6 = require("node:child_process");
var import_node_util4 = require("node:util");
var import_node_os7 = require("node:os");
var run = (0, import_node_util4.promisify)(import_node_child_process6.execFile);
var MountError2 = class extends BuildError {
  name = "MountError";
  constructor(message, data) {
    super("E_MOUNT_FAILED", message, { data });
  }
};
async function mountOverlay(target, options, cwd) {
  if (await helperMount("overlay", target, "overlay", options, cwd ?? "") === 0) return;
  try {
    await run("mount", ["-t", "overlay", "overlay", "-o", options, target], { ...cwd ? { cwd } : {} });
  } catch (e) {
    const stderr = String(e.stderr ?? e.message).trim();
    throw new MountError2(
      `Could not mount an overlay at ${target}: ${stderr}. The state dir must not be on overlayfs (e.g. inside a container without a volume); rootless overlay needs Linux \u2265 5.11. Use the copy snapshotter (mode: 'copy') otherwise.`,
      { target, options, stderr }
    );
  }
}
async function unmount(target) {
  for (let i = 0; i < 10; i++) {
    const errno2 = await helperUnmount(target);
    const { EINVAL, ENOENT, EBUSY } = import_node_os7.constants.errno;
    if (errno2 === 0 || errno2 === EINVAL || errno2 === ENOENT) return;
    if (errno2 !== EBUSY) {
      try {
        await run("umount", [target]);
        return;
      } catch (e) {
        const stderr = String(e.stderr ?? "");
        if (/not mounted|no mount point|not found/i.test(stderr)) return;
      }
    }
    await new Promise((r) => setTimeout(r, 20 * (i + 1)));
  }
  if (await helperUnmount(target, 2) === 0) return;
  await run("umount", ["-l", target]).catch(() => void 0);
}

// packages/builder/src/snapshot/store-dir.ts
var import_node_crypto16 = require("node:crypto");
var import_promises27 = require("node:fs/promises");
var import_node_path19 = __toESM(require("node:path"), 1);
var inflight = /* @__PURE__ */ new Map();
async function isDir(p) {
  try {
    return (await (0, import_promises27.stat)(p)).isDirectory();
  } catch {
    return false;
  }
}
function ensureFilledDir(finalDir, fill) {
  const existing = inflight.get(finalDir);
  if (existing) return existing;
  const p = (async () => {
    if (await isDir(finalDir)) return finalDir;
    await (0, import_promises27.mkdir)(import_node_path19.default.dirname(finalDir), { recursive: true });
    const tmp = `${finalDir}.tmp-${(0, import_node_crypto16.randomBytes)(6).toString("hex")}`;
    await (0, import_promises27.mkdir)(tmp, { mode: 493 });
    try {
      await fill(tmp);
      try {
        await (0, import_promises27.rename)(tmp, finalDir);
      } catch (e) {
        const code = e.code;
        if ((code === "ENOTEMPTY" || code === "EEXIST") && await isDir(finalDir)) {
          await (0, import_promises27.rm)(tmp, { recursive: true, force: true });
          return finalDir;
        }
        throw e;
      }
      return finalDir;
    } catch (e) {
      await (0, import_promises27.rm)(tmp, { recursive: true, force: true }).catch(() => void 0);
      throw e;
    }
  })().finally(() => inflight.delete(finalDir));
  inflight.set(finalDir, p);
  return p;
}
function digestHex2(digest) {
  const i = digest.indexOf(":");
  return i === -1 ? digest : digest.slice(i + 1);
}

// packages/builder/src/snapshot/xattr.ts
var import_node_child_process7 = require("node:child_process");
var import_node_module = require("node:module");
var import_meta = {};
var native;
function nativeXattr() {
  if (native === void 0) {
    try {
      native = (0, import_node_module.createRequire)(import_meta.url)("@napi-rs/xattr");
    } catch {
      native = null;
    }
  }
  return native;
}
function errnoOf(err) {
  const m = /os error (\d+)/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : void 0;
}
var ABSENT = /* @__PURE__ */ new Set([1, 2, 61, 95]);
async function readXattrs(paths) {
  const xattr2 = nativeXattr();
  if (!xattr2) return readXattrsPerl(paths);
  const result = /* @__PURE__ */ new Map();
  for (const p of paths) {
    const values = {};
    result.set(p, values);
    let names;
    try {
      names = xattr2.listAttributesSync(p);
    } catch (err) {
      if (ABSENT.has(errnoOf(err) ?? -1)) continue;
      throw err;
    }
    for (const name of names) {
      try {
        const v = xattr2.getAttributeSync(p, name);
        values[name] = v ?? Buffer.alloc(0);
      } catch (err) {
        if (!ABSENT.has(errnoOf(err) ?? -1)) throw err;
      }
    }
  }
  return result;
}
var SYSCALLS2 = {
  x64: { lsetxattr: 189, lgetxattr: 192, llistxattr: 195 },
  arm64: { lsetxattr: 6, lgetxattr: 9, llistxattr: 12 },
  riscv64: { lsetxattr: 6, lgetxattr: 9, llistxattr: 12 },
  ia32: { lsetxattr: 227, lgetxattr: 230, llistxattr: 233 }
};
function numbers() {
  const n = SYSCALLS2[process.arch];
  if (!n) throw new Error(`xattr access is not implemented for ${process.arch}`);
  return n;
}
function perl(script, input) {
  return new Promise((resolve5, reject) => {
    const child = (0, import_node_child_process7.execFile)("perl", ["-e", script], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`perl xattr helper failed: ${stderr || err.message}`));
      else resolve5(stdout);
    });
    child.stdin?.end(input);
  });
}
async function readXattrsPerl(paths) {
  const n = numbers();
  const script = `
    $/ = "\\0";
    while (my $p = <STDIN>) { chomp $p;
      my $l = "\\0" x 65536; my $len = syscall(${n.llistxattr}, $p, $l, 65536);
      print unpack("H*", $p), "\\n";
      if ($len > 0) { for my $k (split(/\\0/, substr($l, 0, $len))) {
        my $v = "\\0" x 65536; my $vl = syscall(${n.lgetxattr}, $p, $k, $v, 65536);
        print "=", unpack("H*", $k), " ", ($vl >= 0 ? unpack("H*", substr($v, 0, $vl)) : ""), "\\n"; } }
    }`;
  const out = await perl(script, paths.map((p) => p + "\0").join(""));
  const result = /* @__PURE__ */ new Map();
  let cur;
  for (const line of out.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("=")) {
      const [k, v] = line.slice(1).split(" ");
      if (cur && k) cur[Buffer.from(k, "hex").toString("utf8")] = Buffer.from(v ?? "", "hex");
    } else {
      cur = {};
      result.set(Buffer.from(line, "hex").toString("utf8"), cur);
    }
  }
  return result;
}

// packages/builder/src/snapshot/overlay.ts
var import_node_crypto18 = require("node:crypto");
var run2 = (0, import_node_util5.promisify)(import_node_child_process8.execFile);
var MAX_OPTIONS = 3800;
var OverlaySnapshotter = class {
  kind = "overlay";
  root;
  format;
  constructor(options) {
    this.root = import_node_path20.default.resolve(options.root);
    this.format = options.rootless ?? runningInUserNamespace() ? "rootless" : "root";
  }
  /** Mount options fixed by mode. */
  get fixedOptions() {
    return this.format === "rootless" ? "userxattr" : "redirect_dir=off,index=off,metacopy=off";
  }
  layerDir(diffId) {
    return import_node_path20.default.join(this.root, "layers", digestHex2(diffId));
  }
  async has(lowerDiffIds) {
    for (const d of lowerDiffIds) {
      try {
        await (0, import_promises28.stat)(this.layerDir(d));
      } catch {
        return false;
      }
    }
    return true;
  }
  async ensureLayer(l) {
    if (l.dir !== void 0) return l.dir;
    const dir = this.layerDir(l.diffId);
    if (this.present.has(dir)) return dir;
    const xattrPrefix = this.format === "rootless" ? "user.overlay." : "trusted.overlay.";
    await ensureFilledDir(dir, (tmp) => l.apply(tmp, { kind: "overlay-diff", xattrPrefix }));
    this.present.add(dir);
    return dir;
  }
  /** Layer dirs seen on disk by this snapshotter. */
  present = /* @__PURE__ */ new Set();
  async prepare(lowers) {
    const dirs = [];
    for (const l of lowers) dirs.push(await this.ensureLayer(l));
    const id = `${Date.now().toString(36)}-${(0, import_node_crypto17.randomBytes)(6).toString("hex")}`;
    const base = import_node_path20.default.join(this.root, "snapshots", id);
    const upper = import_node_path20.default.join(base, "upper");
    const work = import_node_path20.default.join(base, "work");
    const merged = import_node_path20.default.join(base, "merged");
    (0, import_node_fs19.mkdirSync)(upper, { recursive: true, mode: 493 });
    (0, import_node_fs19.mkdirSync)(work);
    (0, import_node_fs19.mkdirSync)(merged);
    const topFirst = [...new Set([...dirs].reverse())];
    let lowerDirs = topFirst.length > 0 ? topFirst : [await this.emptyDir()];
    lowerDirs = await this.fitLowerDirs(lowerDirs, upper, work);
    const { options, cwd } = this.optionString(lowerDirs, upper, work);
    await mountOverlay(merged, options, cwd);
    return new OverlaySnapshot(this, base, merged, upper, lowerDirs);
  }
  async emptyDir() {
    const d = import_node_path20.default.join(this.root, "empty");
    await (0, import_promises28.mkdir)(d, { recursive: true, mode: 493 });
    return d;
  }
  optionString(lowerTopFirst, upper, work) {
    const abs = `lowerdir=${lowerTopFirst.join(":")},upperdir=${upper},workdir=${work},${this.fixedOptions}`;
    if (abs.length <= MAX_OPTIONS) return { options: abs };
    const layersDir = import_node_path20.default.join(this.root, "layers");
    const rel = lowerTopFirst.map((d) => import_node_path20.default.dirname(d) === layersDir ? import_node_path20.default.basename(d) : d);
    return { options: `lowerdir=${rel.join(":")},upperdir=${upper},workdir=${work},${this.fixedOptions}`, cwd: layersDir };
  }
  /**
   * When even relative paths exceed the mount-data page, the bottom layers are merged into one
   * materialized dir (a read-only overlay of them, copied with `cp -a`), cached by chain.
   */
  async fitLowerDirs(lowerTopFirst, upper, work) {
    let dirs = lowerTopFirst;
    while (this.optionString(dirs, upper, work).options.length > MAX_OPTIONS) {
      const keep = Math.max(1, Math.floor(dirs.length / 2));
      const top = dirs.slice(0, keep);
      const bottom = dirs.slice(keep);
      const key = (0, import_node_crypto18.createHash)("sha256").update(bottom.join("\n")).digest("hex");
      const flat = await ensureFilledDir(import_node_path20.default.join(this.root, "flattened", key), async (tmp) => {
        const fitted = await this.fitLowerDirs(bottom, upper, work);
        const mnt = `${tmp}.mnt`;
        await (0, import_promises28.mkdir)(mnt, { recursive: true });
        const layersDir = import_node_path20.default.join(this.root, "layers");
        const rel = fitted.map((d) => import_node_path20.default.dirname(d) === layersDir ? import_node_path20.default.basename(d) : d);
        await mountOverlay(mnt, `lowerdir=${rel.join(":")}${this.format === "rootless" ? ",userxattr" : ""}`, layersDir);
        try {
          await run2("cp", ["-a", `${mnt}/.`, `${tmp}/`]);
        } finally {
          await unmount(mnt);
          await (0, import_promises28.rm)(mnt, { recursive: true, force: true });
        }
      });
      dirs = [...top, flat];
    }
    return dirs;
  }
};
var OverlaySnapshot = class {
  constructor(owner, base, mergedDir, upperDir, lowerTopFirst) {
    this.owner = owner;
    this.base = base;
    this.mergedDir = mergedDir;
    this.upperDir = upperDir;
    this.lowerTopFirst = lowerTopFirst;
  }
  owner;
  base;
  mergedDir;
  upperDir;
  lowerTopFirst;
  state = "mounted";
  async diff() {
    if (this.state === "released") throw new Error("snapshot already released");
    if (this.state === "mounted") {
      await unmount(this.mergedDir);
      this.state = "unmounted";
      await pruneUnchangedDirs(this.upperDir, this.lowerTopFirst, this.owner.format === "rootless" ? "user.overlay." : "trusted.overlay.");
    }
    return { upperDir: this.upperDir, format: this.owner.format };
  }
  async commit(diffId) {
    await this.diff();
    const target = this.owner.layerDir(diffId);
    await (0, import_promises28.mkdir)(import_node_path20.default.dirname(target), { recursive: true });
    try {
      await (0, import_promises28.rename)(this.upperDir, target);
    } catch (e) {
      const code = e.code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    }
  }
  async release() {
    if (this.state === "released") return;
    if (this.state === "mounted") await unmount(this.mergedDir);
    this.state = "released";
    await (0, import_promises28.rm)(this.base, { recursive: true, force: true });
  }
};
async function pruneUnchangedDirs(upper, lowerTopFirst, xattrPrefix) {
  const candidates = [];
  const visit = (rel) => {
    const entries = (0, import_node_fs19.readdirSync)(import_node_path20.default.join(upper, rel), { withFileTypes: true });
    let left = entries.length;
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (visit(child)) {
        candidates.push(child);
        left--;
      }
    }
    return rel !== "" && left === 0;
  };
  visit("");
  if (candidates.length === 0) return;
  const probe2 = new Set(candidates.map((c) => import_node_path20.default.join(upper, c)));
  for (const rel of candidates) {
    const parts = rel.split("/");
    for (const lower of lowerTopFirst) {
      for (let i = 1; i < parts.length; i++) probe2.add(import_node_path20.default.join(lower, ...parts.slice(0, i)));
    }
  }
  const existing = [];
  for (const p of probe2) if (lstatQuiet(p)?.isDirectory()) existing.push(p);
  const xattrs = await readXattrs(existing);
  const opaque = (p) => xattrs.get(p)?.[`${xattrPrefix}opaque`]?.toString() === "y";
  const removed = /* @__PURE__ */ new Set();
  for (const rel of candidates) {
    const abs = import_node_path20.default.join(upper, rel);
    const own = xattrs.get(abs) ?? {};
    if (Object.keys(own).some((k) => k === `${xattrPrefix}opaque` || !k.startsWith(xattrPrefix))) continue;
    const remaining = (0, import_node_fs19.readdirSync)(abs).filter((n) => !removed.has(rel ? `${rel}/${n}` : n));
    if (remaining.length > 0) continue;
    const st = (0, import_node_fs19.lstatSync)(abs);
    const low = lowerStat(lowerTopFirst, rel, opaque);
    if (!low || !low.isDirectory() || low.mode !== st.mode || low.uid !== st.uid || low.gid !== st.gid) continue;
    (0, import_node_fs19.rmdirSync)(abs);
    removed.add(rel);
  }
}
function lstatQuiet(p) {
  try {
    return (0, import_node_fs19.lstatSync)(p);
  } catch {
    return void 0;
  }
}
function lowerStat(lowerTopFirst, rel, opaque) {
  const parts = rel.split("/");
  for (const lower of lowerTopFirst) {
    let hidden = false;
    for (let i = 1; i <= parts.length; i++) {
      const p = import_node_path20.default.join(lower, ...parts.slice(0, i));
      const st = lstatQuiet(p);
      if (!st) break;
      if (i === parts.length) return st.isCharacterDevice() && st.rdev === 0 ? void 0 : st;
      if (!st.isDirectory()) return void 0;
      if (opaque(p)) hidden = true;
    }
    if (hidden) return void 0;
  }
  return void 0;
}

// packages/builder/src/snapshot/copy.ts
var import_node_child_process9 = require("node:child_process");
var import_node_crypto19 = require("node:crypto");
var import_node_fs20 = require("node:fs");
var import_promises29 = require("node:fs/promises");
var import_node_path21 = __toESM(require("node:path"), 1);
var import_node_util6 = require("node:util");
var run3 = (0, import_node_util6.promisify)(import_node_child_process9.execFile);
function chainId(diffIds) {
  let chain2 = "";
  for (const d of diffIds) chain2 = chain2 === "" ? d : `sha256:${(0, import_node_crypto19.createHash)("sha256").update(`${chain2} ${d}`).digest("hex")}`;
  return chain2;
}
async function lstatBig(p) {
  try {
    return await (0, import_promises29.lstat)(p, { bigint: true });
  } catch {
    return void 0;
  }
}
async function* walk(root, rel = "") {
  const names = (await (0, import_promises29.readdir)(import_node_path21.default.join(root, rel))).sort();
  for (const name of names) {
    const r = rel === "" ? name : `${rel}/${name}`;
    yield r;
    const st = await (0, import_promises29.lstat)(import_node_path21.default.join(root, r));
    if (st.isDirectory()) yield* walk(root, r);
  }
}
async function sameContent(a, b) {
  const hash = (p) => new Promise((resolve5, reject) => {
    const h = (0, import_node_crypto19.createHash)("sha256");
    (0, import_node_fs20.createReadStream)(p).on("data", (c) => h.update(c)).on("end", () => resolve5(h.digest("hex"))).on("error", reject);
  });
  const [x, y] = await Promise.all([hash(a), hash(b)]);
  return x === y;
}
function kindOf(st) {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isCharacterDevice()) return "c";
  if (st.isBlockDevice()) return "b";
  if (st.isFIFO()) return "p";
  return "s";
}
var CopySnapshotter = class {
  kind = "copy";
  root;
  format;
  constructor(options) {
    this.root = import_node_path21.default.resolve(options.root);
    this.format = options.rootless ?? runningInUserNamespace() ? "rootless" : "root";
  }
  chainDir(diffIds) {
    return diffIds.length === 0 ? import_node_path21.default.join(this.root, "chains", "empty") : import_node_path21.default.join(this.root, "chains", digestHex2(chainId(diffIds)));
  }
  async has(lowerDiffIds) {
    return await lstatBig(this.chainDir(lowerDiffIds)) !== void 0;
  }
  async ensureChain(lowers) {
    const ids = lowers.map((l) => l.diffId);
    const dir = this.chainDir(ids);
    if (lowers.length === 0) {
      await (0, import_promises29.mkdir)(dir, { recursive: true, mode: 493 });
      return dir;
    }
    const parent = await this.ensureChain(lowers.slice(0, -1));
    return ensureFilledDir(dir, async (tmp) => {
      await run3("cp", ["-a", "--reflink=auto", `${parent}/.`, `${tmp}/`]);
      await lowers[lowers.length - 1].apply(tmp, { kind: "apply" });
    });
  }
  async prepare(lowers) {
    if (lowers.some((l) => l.dir !== void 0)) throw new Error("the copy snapshotter needs committed lower layers; it cannot stack an uncommitted change dir");
    const lowerDir = await this.ensureChain(lowers);
    const id = `${Date.now().toString(36)}-${(0, import_node_crypto19.randomBytes)(6).toString("hex")}`;
    const base = import_node_path21.default.join(this.root, "snapshots", id);
    const merged = import_node_path21.default.join(base, "merged");
    await (0, import_promises29.mkdir)(base, { recursive: true });
    await run3("cp", ["-a", "--reflink=auto", lowerDir, merged]);
    const baseline = /* @__PURE__ */ new Map();
    for await (const rel of walk(merged)) {
      const st = await (0, import_promises29.lstat)(import_node_path21.default.join(merged, rel), { bigint: true });
      baseline.set(rel, { ino: st.ino, ctimeNs: st.ctimeNs });
    }
    return new CopySnapshot(this, base, merged, lowerDir, baseline, lowers.map((l) => l.diffId));
  }
};
var CopySnapshot = class {
  constructor(owner, base, mergedDir, lowerDir, baseline, lowerIds) {
    this.owner = owner;
    this.base = base;
    this.mergedDir = mergedDir;
    this.lowerDir = lowerDir;
    this.baseline = baseline;
    this.lowerIds = lowerIds;
  }
  owner;
  base;
  mergedDir;
  lowerDir;
  baseline;
  lowerIds;
  result;
  released = false;
  async changed(rel, cur) {
    const b = this.baseline.get(rel);
    if (b && b.ino === cur.ino && b.ctimeNs === cur.ctimeNs) return false;
    const low = await lstatBig(import_node_path21.default.join(this.lowerDir, rel));
    if (!low) return true;
    if (kindOf(low) !== kindOf(cur)) return true;
    if (low.mode !== cur.mode || low.uid !== cur.uid || low.gid !== cur.gid) return true;
    if (cur.isDirectory()) return low.mtimeNs !== cur.mtimeNs;
    if (low.mtimeNs !== cur.mtimeNs || low.size !== cur.size) return true;
    if (cur.isSymbolicLink()) return await (0, import_promises29.readlink)(import_node_path21.default.join(this.lowerDir, rel)) !== await (0, import_promises29.readlink)(import_node_path21.default.join(this.mergedDir, rel));
    if (cur.isCharacterDevice() || cur.isBlockDevice()) return low.rdev !== cur.rdev;
    if (cur.isFile()) return !await sameContent(import_node_path21.default.join(this.lowerDir, rel), import_node_path21.default.join(this.mergedDir, rel));
    return false;
  }
  async diff() {
    if (this.result) return this.result;
    if (this.released) throw new Error("snapshot already released");
    const upper = import_node_path21.default.join(this.base, "upper");
    await (0, import_promises29.mkdir)(upper, { mode: 493 });
    const copied = /* @__PURE__ */ new Set();
    const inodes = /* @__PURE__ */ new Map();
    const ensureParents = async (rel) => {
      const parts = rel.split("/");
      for (let i = 1; i < parts.length; i++) {
        const p = parts.slice(0, i).join("/");
        if (copied.has(p)) continue;
        await this.copyEntry(p, upper, inodes);
        copied.add(p);
      }
    };
    for await (const rel of walk(this.mergedDir)) {
      const st = await (0, import_promises29.lstat)(import_node_path21.default.join(this.mergedDir, rel), { bigint: true });
      if (!await this.changed(rel, st)) continue;
      await ensureParents(rel);
      await this.copyEntry(rel, upper, inodes);
      copied.add(rel);
    }
    const whiteouts = [];
    for await (const rel of walk(this.lowerDir)) {
      const parentGone = whiteouts.some((w) => rel.startsWith(w + "/"));
      if (parentGone) continue;
      const cur = await lstatBig(import_node_path21.default.join(this.mergedDir, rel));
      if (cur) continue;
      const parent = import_node_path21.default.posix.dirname(rel);
      if (parent !== ".") {
        const pst = await lstatBig(import_node_path21.default.join(this.mergedDir, parent));
        if (!pst || !pst.isDirectory()) continue;
        await ensureParents(rel);
      }
      whiteouts.push(rel);
    }
    if (whiteouts.length > 0) {
      await run3("sh", ["-c", 'for p; do mknod "$p" c 0 0 || exit 1; done', "sh", ...whiteouts.map((w) => import_node_path21.default.join(upper, w))]);
    }
    for (const rel of [...copied].sort().reverse()) {
      const st = await (0, import_promises29.lstat)(import_node_path21.default.join(this.mergedDir, rel));
      if (st.isDirectory()) await (0, import_promises29.lutimes)(import_node_path21.default.join(upper, rel), st.atime, st.mtime);
    }
    this.result = { upperDir: upper, format: this.owner.format };
    return this.result;
  }
  async copyEntry(rel, upper, inodes) {
    const src = import_node_path21.default.join(this.mergedDir, rel);
    const dst = import_node_path21.default.join(upper, rel);
    const st = await (0, import_promises29.lstat)(src, { bigint: true });
    if (st.isDirectory()) {
      await (0, import_promises29.mkdir)(dst, { mode: 448 }).catch((e) => {
        if (e.code !== "EEXIST") throw e;
      });
    } else if (st.isFile()) {
      const first = st.nlink > 1n ? inodes.get(st.ino) : void 0;
      if (first) {
        await (0, import_promises29.link)(import_node_path21.default.join(upper, first), dst);
        return;
      }
      await (0, import_promises29.copyFile)(src, dst);
      if (st.nlink > 1n) inodes.set(st.ino, rel);
    } else if (st.isSymbolicLink()) {
      await (0, import_promises29.symlink)(await (0, import_promises29.readlink)(src), dst);
    } else {
      await run3("cp", ["-a", src, dst]);
    }
    await (0, import_promises29.chown)(dst, Number(st.uid), Number(st.gid)).catch(async (e) => {
      if (!st.isSymbolicLink()) throw e;
    });
    if (!st.isSymbolicLink()) await (0, import_promises29.chmod)(dst, Number(st.mode & 0o7777n));
    await (0, import_promises29.lutimes)(dst, new Date(Number(st.atimeMs)), new Date(Number(st.mtimeNs / 1000000n)));
  }
  async commit(diffId) {
    await this.diff();
    const target = this.owner.chainDir([...this.lowerIds, diffId]);
    await (0, import_promises29.mkdir)(import_node_path21.default.dirname(target), { recursive: true });
    try {
      await (0, import_promises29.rename)(this.mergedDir, target);
    } catch (e) {
      const code = e.code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    }
  }
  async release() {
    if (this.released) return;
    this.released = true;
    await (0, import_promises29.rm)(this.base, { recursive: true, force: true });
  }
};

// packages/builder/src/snapshot/create.ts
var import_node_crypto20 = require("node:crypto");
var import_node_fs21 = require("node:fs");
var import_promises30 = require("node:fs/promises");
var import_node_os8 = __toESM(require("node:os"), 1);
var import_node_path22 = __toESM(require("node:path"), 1);
var probed = /* @__PURE__ */ new Map();
var PROBE_FILE = "overlay-probe.json";
function probeIdentity(root, rootless) {
  let caps = "";
  try {
    caps = /^CapEff:\s*([0-9a-f]+)$/m.exec((0, import_node_fs21.readFileSync)("/proc/self/status", "utf8"))?.[1] ?? "";
  } catch {
  }
  const st = (0, import_node_fs21.statSync)(root);
  const fsType = (0, import_node_fs21.statfsSync)(root).type;
  return JSON.stringify({ v: 1, kernel: import_node_os8.default.release(), dev: st.dev, ino: st.ino, fsType, uid: process.geteuid?.() ?? -1, rootless, caps });
}
function rememberedWorks(root, identity) {
  try {
    return (0, import_node_fs21.readFileSync)(import_node_path22.default.join(root, PROBE_FILE), "utf8") === identity;
  } catch {
    return false;
  }
}
function overlayWorks(root, rootless) {
  const key = `${import_node_path22.default.resolve(root)}|${rootless}`;
  let p = probed.get(key);
  if (!p) {
    p = (async () => {
      let identity;
      try {
        identity = probeIdentity(root, rootless);
        if (rememberedWorks(root, identity)) return true;
      } catch {
        identity = void 0;
      }
      const works = await probeOverlay(root, rootless);
      if (works && identity !== void 0) {
        const tmp = import_node_path22.default.join(root, `${PROBE_FILE}.${process.pid}.${(0, import_node_crypto20.randomBytes)(4).toString("hex")}`);
        await (0, import_promises30.writeFile)(tmp, identity).then(() => (0, import_promises30.rename)(tmp, import_node_path22.default.join(root, PROBE_FILE))).catch(() => (0, import_promises30.rm)(tmp, { force: true }).catch(() => void 0));
      }
      return works;
    })();
    probed.set(key, p);
  }
  return p;
}
async function probeOverlay(root, rootless) {
  const dir = import_node_path22.default.join(root, `probe-${(0, import_node_crypto20.randomBytes)(4).toString("hex")}`);
  const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((d) => import_node_path22.default.join(dir, d));
  try {
    for (const d of [lower, upper, work, merged]) await (0, import_promises30.mkdir)(d, { recursive: true });
    await (0, import_promises30.writeFile)(import_node_path22.default.join(lower, "f"), "x");
    const opts = rootless ? "userxattr" : "redirect_dir=off,index=off,metacopy=off";
    await mountOverlay(merged, `lowerdir=${lower},upperdir=${upper},workdir=${work},${opts}`);
    try {
      await (0, import_promises30.writeFile)(import_node_path22.default.join(merged, "f"), "y");
      return await (0, import_promises30.readFile)(import_node_path22.default.join(upper, "f"), "utf8") === "y";
    } finally {
      await unmount(merged);
    }
  } catch {
    return false;
  } finally {
    await (0, import_promises30.rm)(dir, { recursive: true, force: true }).catch(() => void 0);
  }
}
async function createSnapshotter(options) {
  const rootless = options.rootless ?? runningInUserNamespace();
  const mode = options.mode ?? "auto";
  const root = import_node_path22.default.resolve(options.root);
  await (0, import_promises30.mkdir)(root, { recursive: true });
  if (mode === "copy") return new CopySnapshotter({ root: import_node_path22.default.join(root, "copy"), rootless });
  if (mode === "overlay" || await overlayWorks(root, rootless)) return new OverlaySnapshotter({ root: import_node_path22.default.join(root, "overlay"), rootless });
  return new CopySnapshotter({ root: import_node_path22.default.join(root, "copy"), rootless });
}

// packages/builder/src/solve/copy-step.ts
var import_node_child_process10 = require("node:child_process");
var import_node_crypto21 = require("node:crypto");
var import_node_fs23 = require("node:fs");
var import_promises33 = require("node:fs/promises");
var import_node_os9 = __toESM(require("node:os"), 1);
var import_node_path24 = __toESM(require("node:path"), 1);
var import_node_stream13 = require("node:stream");
var import_promises34 = require("node:stream/promises");
var import_tar_stream = __toESM(require_tar_stream(), 1);

// packages/builder/src/fileop/copy.ts
var import_node_fs22 = require("node:fs");
var import_promises31 = require("node:fs/promises");
var import_node_path23 = __toESM(require("node:path"), 1);

// packages/builder/src/fileop/mode.ts
var WHO_BITS = { u: 2496, g: 1080, o: 519, a: 4095 };
var parsed = /* @__PURE__ */ new Map();
function clausesOf(text) {
  let clauses = parsed.get(text);
  if (!clauses) {
    clauses = text.split(",").map((part) => {
      const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(part);
      let who = 0;
      for (const c of m?.[1] ?? "") who |= WHO_BITS[c];
      const actions = [...(m?.[2] ?? "").matchAll(/([-+=])([rwxXstugo]*)/g)].map((a) => ({ op: a[1], perms: a[2] }));
      return { who: who || 4095, actions };
    });
    parsed.set(text, clauses);
  }
  return clauses;
}
function applyChmod(spec, current, isDir2) {
  if (spec.kind === "octal") return spec.mode;
  let mode = current & 4095;
  for (const clause of clausesOf(spec.text)) {
    for (const { op, perms } of clause.actions) {
      let bits = 0;
      for (const p of perms) {
        switch (p) {
          case "r":
            bits |= 292;
            break;
          case "w":
            bits |= 146;
            break;
          case "x":
            bits |= 73;
            break;
          case "X":
            if (isDir2 || (current & 73) !== 0) bits |= 73;
            break;
          case "s":
            bits |= 3072;
            break;
          case "t":
            bits |= 512;
            break;
          case "u":
            bits |= copyClass(mode >> 6 & 7);
            break;
          case "g":
            bits |= copyClass(mode >> 3 & 7);
            break;
          case "o":
            bits |= copyClass(mode & 7);
            break;
        }
      }
      bits &= clause.who;
      if (op === "+") mode |= bits;
      else if (op === "-") mode &= ~bits;
      else mode = mode & ~clause.who | bits;
    }
  }
  return mode;
}
function copyClass(rwx) {
  return rwx << 6 | rwx << 3 | rwx;
}

// packages/builder/src/fileop/copy.ts
var DEFAULT_DIR_MODE = 493;
var SYNC_COPY_BYTES = 1024 * 1024;
async function copyIntoRoot(options) {
  const { dest, destRoot } = options;
  const base = import_node_path23.default.posix.basename(dest);
  const ensure = dest.endsWith("/") || base === "" || base === "." ? dest : import_node_path23.default.posix.dirname(dest);
  const dirMode = options.mode?.kind === "octal" ? options.mode.mode : DEFAULT_DIR_MODE;
  await mkdirAllInRoot(destRoot, ensure, dirMode, options.owner ?? { uid: 0, gid: 0 });
  let target = await resolveInRoot(destRoot, import_node_path23.default.posix.normalize(dest));
  const srcPath = await resolveSource(options.srcRoot, options.src, options.followSymlinks);
  const srcStat = await (0, import_promises31.lstat)(srcPath).catch((e) => {
    if (isNotFound(e)) throw new BuildError("E_SOURCE_NOT_FOUND", `${options.src}: not found`, { data: { source: options.src } });
    throw e;
  });
  const destStat = await (0, import_promises31.stat)(target).catch((e) => isNotFound(e) ? void 0 : Promise.reject(e));
  if (!options.copyDirContents && srcStat.isDirectory() && destStat || !srcStat.isDirectory() && destStat?.isDirectory()) {
    target = import_node_path23.default.join(target, import_node_path23.default.posix.basename(options.src));
  }
  const parent = options.copyDirContents && srcStat.isDirectory() && !destStat ? target : import_node_path23.default.dirname(target);
  await mkdirAllInRoot(destRoot, "/" + import_node_path23.default.relative(destRoot, parent), dirMode, options.owner ?? { uid: 0, gid: 0 });
  const copier = new Copier(options);
  const srcRel = import_node_path23.default.relative(options.srcRoot, srcPath).split(import_node_path23.default.sep).join("/");
  await copier.copy(srcPath, srcRel, "", target, false, srcStat);
}
async function resolveSource(root, src, follow) {
  const clean = import_node_path23.default.posix.join("/", src);
  if (clean === "/") return root;
  if (follow) return resolveInRoot(root, clean);
  return import_node_path23.default.join(await resolveInRoot(root, import_node_path23.default.posix.dirname(clean)), import_node_path23.default.posix.basename(clean));
}
async function mkdirAllInRoot(root, dir, mode, owner) {
  const resolved2 = await resolveInRoot(root, dir);
  const created = [];
  let current = root;
  for (const part of import_node_path23.default.relative(root, resolved2).split(import_node_path23.default.sep).filter((p) => p !== "")) {
    current = import_node_path23.default.join(current, part);
    const st = (0, import_node_fs22.lstatSync)(current, { throwIfNoEntry: false });
    if (!st) {
      (0, import_node_fs22.mkdirSync)(current, { mode });
      (0, import_node_fs22.chmodSync)(current, mode);
      (0, import_node_fs22.lchownSync)(current, owner.uid, owner.gid);
      created.push(current);
    } else if (!st.isDirectory()) {
      throw new BuildError("E_NOT_A_DIRECTORY", `cannot copy to non-directory: ${"/" + import_node_path23.default.relative(root, current)}`, { data: { path: current } });
    }
  }
  return created;
}
var Copier = class {
  constructor(options) {
    this.options = options;
  }
  options;
  inodes = /* @__PURE__ */ new Map();
  pending = [];
  async copy(src, rel, relToSource, target, overwriteMeta, known) {
    const st = known ?? (0, import_node_fs22.lstatSync)(src);
    let include = true;
    let descend = true;
    if (relToSource !== "" && this.options.filter) {
      ({ include, descend } = this.options.filter({ rel, relToSource, isDir: st.isDirectory() }));
      if (!include && (!st.isDirectory() || !descend)) return;
    }
    if (include) await this.createPendingParents();
    if (st.isDirectory()) {
      const created = include ? this.ensureDir(target, st, overwriteMeta) : false;
      this.pending.push({ src, dst: target, stat: st, created: include });
      try {
        const names = (0, import_node_fs22.readdirSync)(src).sort();
        for (const name of names) {
          await this.copy(import_node_path23.default.join(src, name), rel === "" ? name : `${rel}/${name}`, relToSource === "" ? name : `${relToSource}/${name}`, import_node_path23.default.join(target, name), true);
        }
      } finally {
        this.pending.pop();
      }
      if (include && (created || overwriteMeta)) this.copyInfo(st, target);
      return;
    }
    removeNonDir(target);
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const linked = st.nlink > 1 ? this.inodes.get(key) : void 0;
      if (linked) {
        (0, import_node_fs22.linkSync)(linked, target);
        return;
      }
      if (st.size <= SYNC_COPY_BYTES) (0, import_node_fs22.copyFileSync)(src, target);
      else await (0, import_promises31.copyFile)(src, target);
      if (st.nlink > 1) this.inodes.set(key, target);
    } else if (st.isSymbolicLink()) {
      (0, import_node_fs22.symlinkSync)((0, import_node_fs22.readlinkSync)(src), target);
    } else {
      return;
    }
    this.copyInfo(st, target);
  }
  /** Directories whose creation was delayed because they were excluded but descended into. */
  async createPendingParents() {
    for (const dir of this.pending) {
      if (dir.created) continue;
      const made = this.ensureDir(dir.dst, dir.stat, false);
      if (made) this.copyInfo(dir.stat, dir.dst);
      dir.created = true;
    }
  }
  ensureDir(target, st, overwriteMeta) {
    const existing = (0, import_node_fs22.lstatSync)(target, { throwIfNoEntry: false });
    if (!existing) {
      (0, import_node_fs22.mkdirSync)(target);
      return true;
    }
    if (!existing.isDirectory()) {
      throw new BuildError("E_NOT_A_DIRECTORY", `cannot copy to non-directory: ${"/" + import_node_path23.default.relative(this.options.destRoot, target)}`, { data: { path: target } });
    }
    if (overwriteMeta) (0, import_node_fs22.chmodSync)(target, this.modeFor(st));
    return false;
  }
  modeFor(st) {
    const perm = st.mode & 4095;
    return this.options.mode ? applyChmod(this.options.mode, perm, st.isDirectory()) : perm;
  }
  copyInfo(st, target) {
    const owner = this.options.owner ?? (this.options.preserveOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
    (0, import_node_fs22.lchownSync)(target, owner.uid, owner.gid);
    if (!st.isSymbolicLink()) (0, import_node_fs22.chmodSync)(target, this.modeFor(st));
    (0, import_node_fs22.lutimesSync)(target, st.atime, st.mtime);
  }
};
function removeNonDir(target) {
  const existing = (0, import_node_fs22.lstatSync)(target, { throwIfNoEntry: false });
  if (!existing) return;
  if (existing.isDirectory()) {
    throw new BuildError("E_NOT_A_DIRECTORY", `cannot replace directory ${target} with a file`, { data: { path: target } });
  }
  (0, import_node_fs22.unlinkSync)(target);
}

// packages/builder/src/fileop/chown.ts
var import_promises32 = require("node:fs/promises");
async function readInRoot2(root, file2) {
  try {
    return await (0, import_promises32.readFile)(await resolveInRoot(root, file2), "utf8");
  } catch {
    return void 0;
  }
}
async function resolveChown(root, chown4) {
  const colon = chown4.indexOf(":");
  const user = colon < 0 ? chown4 : chown4.slice(0, colon);
  const group = colon < 0 ? void 0 : chown4.slice(colon + 1);
  const owner = { uid: 0, gid: 0 };
  if (/^[0-9]+$/.test(user)) {
    owner.uid = owner.gid = Number(user);
  } else if (user !== "") {
    const entry = parsePasswd(await readInRoot2(root, "/etc/passwd") ?? "").find((e) => e.name === user);
    if (entry) {
      owner.uid = entry.uid;
      owner.gid = entry.gid;
    }
  }
  if (group !== void 0 && group !== "") {
    if (/^[0-9]+$/.test(group)) owner.gid = Number(group);
    else {
      const entry = parseGroup(await readInRoot2(root, "/etc/group") ?? "").find((e) => e.name === group);
      if (entry) owner.gid = entry.gid;
    }
  }
  return owner;
}

// packages/builder/src/solve/copy-step.ts
function resolveDest(workdir, dest) {
  const trailing = dest.endsWith("/") || dest === "." || dest === "" || dest.endsWith("/.");
  const joined = dest.startsWith("/") ? dest : import_node_path24.default.posix.join(workdir || "/", dest);
  const clean = import_node_path24.default.posix.normalize(joined);
  return trailing && !clean.endsWith("/") ? clean + "/" : clean;
}
function isUrl(s) {
  return /^https?:\/\//i.test(s);
}
function isGit(s) {
  return /^git@|^git:\/\/|\.git(#|$)|^https?:\/\/[^/]+\/[^/]+\/[^/]+\.git/.test(s);
}
function copyStep(deps) {
  return async (ctx) => {
    const { step, state } = ctx;
    const ins = step.instruction;
    const isAdd = ins.kind === "ADD";
    const workdir = state.config.config?.WorkingDir || "/";
    const dest = resolveDest(workdir, ins.dest);
    const source = step.source ?? { kind: "context" };
    const mode = step.chmod ?? (ins.chmod ? parseChmod(ins.chmod) : void 0);
    const urls = isAdd ? ins.sources.filter(isUrl) : [];
    const localSources = ins.sources.filter((s) => !(isAdd && isUrl(s)));
    for (const s of ins.sources) {
      if (isGit(s)) throw new BuildError("E_UNSUPPORTED", `ADD of a git repository (${s}) is not supported yet; clone it in a RUN step or a separate context`, { location: step.location });
      if (!isAdd && isUrl(s)) throw new BuildError("E_SOURCE_URL", `source can't be a URL for COPY: ${s} (use ADD)`, { location: step.location });
    }
    const cleanup = [];
    const dispose = async () => {
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => void 0);
    };
    try {
      const hashAtKeyTime = source.kind === "context" || deps.roots.isLocal(source);
      const keyRoot = localSources.length && hashAtKeyTime ? await deps.roots.open(ctx, source, cleanup) : void 0;
      const keySelection = keyRoot ? await select(keyRoot, ins, localSources, ctx) : void 0;
      const downloads = await Promise.all(urls.map((u) => download(u, isAdd ? ins.checksum : void 0, cleanup, ctx)));
      const heredocs = await writeHeredocs(ins, cleanup);
      const octal2 = mode?.kind === "octal" ? mode.mode : void 0;
      const hashed = keySelection ? await hashSelection(keySelection, { preserveOwner: keyRoot.preserveOwner, ...octal2 !== void 0 ? { chmod: octal2 } : {}, ...deps.roots.statCache && source.kind === "context" ? { statCache: deps.roots.statCache } : {} }) : void 0;
      if (hashed && source.kind === "context") await deps.roots.statCache?.save();
      const parts = [
        {
          type: "op",
          value: JSON.stringify({
            kind: ins.kind,
            dest,
            chown: ins.chown ?? null,
            chmod: ins.chmod ?? null,
            link: ins.link,
            parents: ins.kind === "COPY" ? ins.parents : false,
            exclude: ins.exclude,
            sources: ins.sources,
            unpack: isAdd ? ins.unpack ?? null : null,
            heredocs: heredocs.map((h) => ({ name: h.name, sha: h.sha })),
            urls: downloads.map((d) => ({ url: d.url, sha: d.sha }))
          })
        },
        ...hashed ? [{ type: "files", name: "sources", entries: keyEntries(hashed.files) }] : [],
        ...source.kind !== "context" ? [{ type: "input", name: "from", value: await sourceIdentity(ctx, deps, source) }] : []
      ];
      return {
        parts,
        independent: ins.link && !ins.chmod,
        createdBy: createdBy(ins),
        buildkitSuffix: true,
        dispose,
        run: async (snapshot) => {
          const root = keyRoot ?? (localSources.length ? await deps.roots.open(ctx, source, cleanup) : void 0);
          const selection = keySelection ?? (root ? await select(root, ins, localSources, ctx) : void 0);
          const destRoot = snapshot.mergedDir;
          const owner = ins.chown ? await resolveChown(ins.link ? await chownRoot(ctx, cleanup) : destRoot, ins.chown) : void 0;
          const base = { destRoot, followSymlinks: true, preserveOwner: root?.preserveOwner ?? false, ...owner ? { owner } : {}, ...mode ? { mode } : {} };
          const manySources = ins.sources.length + ins.heredocSources.length > 1;
          if (manySources && !dest.endsWith("/")) {
            throw new BuildError("E_COPY_DEST", `When using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`, { location: step.location });
          }
          if (selection && root) {
            for (const src of selection.sources) {
              for (const match of src.matches) {
                const keep = new Set(match.entries.map((e) => e.entry.path));
                const matchDest = ins.kind === "COPY" && ins.parents ? parentsDest(dest, src.source, match.matched, match.entries) : dest;
                const single = match.entries.length === 1 && match.entries[0].entry.type !== "dir" ? match.entries[0].entry : void 0;
                if (isAdd && single?.type === "file" && (ins.unpack ?? true) && await isArchive(import_node_path24.default.join(root.dir, match.resolved))) {
                  await unpackArchive(import_node_path24.default.join(root.dir, match.resolved), destRoot, dest, owner);
                  continue;
                }
                await copyIntoRoot({
                  ...base,
                  srcRoot: root.dir,
                  src: "/" + match.resolved,
                  dest: matchDest,
                  copyDirContents: true,
                  filter: ({ rel }) => ({ include: keep.has(rel), descend: true })
                });
              }
            }
          }
          for (const d of downloads) {
            if (isAdd && ins.unpack && await isArchive(d.file)) {
              await unpackArchive(d.file, destRoot, dest, owner);
              continue;
            }
            await copyIntoRoot({ ...base, srcRoot: import_node_path24.default.dirname(d.file), src: "/" + import_node_path24.default.basename(d.file), dest, copyDirContents: true, preserveOwner: false });
          }
          for (const h of heredocs) {
            await copyIntoRoot({ ...base, srcRoot: h.dir, src: "/" + h.name, dest, copyDirContents: true, preserveOwner: false });
          }
        }
      };
    } catch (e) {
      await dispose();
      throw e;
    }
  };
}
function keyEntries(files) {
  const byPath = /* @__PURE__ */ new Map();
  for (const f of files) {
    const name = f.path + (f.copyPath === "." || f.copyPath === f.path ? "" : ` -> ${f.copyPath}`);
    const seen = byPath.get(name);
    if (seen && seen.hash === f.hash && seen.mode === f.mode) continue;
    let unique = name;
    for (let n = 2; byPath.has(unique); n++) unique = `${name} #${n}`;
    byPath.set(unique, { path: unique, hash: f.hash, mode: f.mode });
  }
  return [...byPath.values()];
}
async function select(root, ins, sources, ctx) {
  const context = await root.context();
  return selectSources(context, {
    sources,
    excludes: ins.exclude,
    parents: ins.kind === "COPY" ? ins.parents : false,
    followSymlinks: true,
    location: ctx.step.location
  });
}
async function sourceIdentity(ctx, deps, source) {
  return deps.roots.identity(ctx, source, "/");
}
async function chownRoot(ctx, cleanup) {
  const snap = await ctx.solver.prepare(ctx.state.layers);
  cleanup.push(() => snap.release());
  return snap.mergedDir;
}
function parentsDest(dest, source, matched, entries) {
  const pivotIndex = source.indexOf("/./");
  const pivot = pivotIndex >= 0 ? import_node_path24.default.posix.normalize(source.slice(0, pivotIndex)).replace(/^\/+/, "").replace(/^\.$/, "") : "";
  let rel = matched;
  if (pivot && (rel === pivot || rel.startsWith(pivot + "/"))) rel = rel.slice(pivot.length).replace(/^\/+/, "");
  const isDir2 = entries.some((e) => e.path === "." && e.entry.type === "dir");
  const keep = isDir2 ? rel : import_node_path24.default.posix.dirname(rel);
  const base = dest.endsWith("/") ? dest : dest + "/";
  return keep === "." || keep === "" ? base : import_node_path24.default.posix.join(base, keep) + "/";
}
function createdBy(ins) {
  const parts = [ins.kind];
  if (ins.kind === "COPY" && ins.parents) parts.push("--parents");
  if (ins.chown) parts.push(`--chown=${ins.chown}`);
  if (ins.chmod) parts.push(`--chmod=${ins.chmod}`);
  parts.push(...ins.sources, ...ins.heredocSources.map((h) => `<<${h.path}`), ins.dest);
  return parts.join(" ");
}
async function writeHeredocs(ins, cleanup) {
  if (!ins.heredocSources.length) return [];
  const dir = await (0, import_promises33.mkdtemp)(import_node_path24.default.join(import_node_os9.default.tmpdir(), "build-image-heredoc-"));
  cleanup.push(() => (0, import_promises33.rm)(dir, { recursive: true, force: true }));
  const out = [];
  for (const h of ins.heredocSources) {
    const name = import_node_path24.default.posix.basename(h.path);
    const file2 = import_node_path24.default.join(dir, name);
    await (0, import_promises33.writeFile)(file2, h.data);
    await (0, import_promises33.chmod)(file2, 420);
    out.push({ dir, name, sha: (0, import_node_crypto21.createHash)("sha256").update(h.data).digest("hex") });
  }
  return out;
}
async function download(url, checksum, cleanup, ctx) {
  const dir = await (0, import_promises33.mkdtemp)(import_node_path24.default.join(import_node_os9.default.tmpdir(), "build-image-add-"));
  cleanup.push(() => (0, import_promises33.rm)(dir, { recursive: true, force: true }));
  let name = "__unnamed__";
  try {
    const base = import_node_path24.default.posix.basename(new URL(url).pathname);
    if (base && base !== "/" && base !== ".") name = base;
  } catch {
  }
  const file2 = import_node_path24.default.join(dir, name);
  const res = await fetch(url, { signal: ctx.solver.signal }).catch((e) => {
    throw new BuildError("E_ADD_URL", `failed to download ${url}: ${e.message}`, { location: ctx.step.location, cause: e });
  });
  if (!res.ok || !res.body) throw new BuildError("E_ADD_URL", `failed to download ${url}: HTTP ${res.status} ${res.statusText}`, { location: ctx.step.location, data: { status: res.status } });
  const hash = (0, import_node_crypto21.createHash)("sha256");
  await (0, import_promises34.pipeline)(
    import_node_stream13.Readable.fromWeb(res.body),
    async function* (src) {
      for await (const chunk of src) {
        hash.update(chunk);
        yield chunk;
      }
    },
    (0, import_node_fs23.createWriteStream)(file2, { mode: 384 })
  );
  const sha = hash.digest("hex");
  if (checksum && checksum !== `sha256:${sha}`) {
    throw new BuildError("E_CHECKSUM", `digest mismatch for ${url}: expected ${checksum}, got sha256:${sha}`, { location: ctx.step.location, data: { expected: checksum, actual: `sha256:${sha}` } });
  }
  const lastModified = res.headers.get("last-modified");
  if (lastModified && !Number.isNaN(Date.parse(lastModified))) {
    const t = new Date(lastModified);
    await (0, import_promises33.utimes)(file2, t, t);
  }
  return { url, file: file2, sha };
}
async function archiveTar(file2) {
  const fh = await (0, import_promises33.open)(file2, "r");
  let kind;
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    kind = detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
  if (kind === "bzip2" || kind === "xz") {
    const child = (0, import_node_child_process10.spawn)(kind, ["-dc", file2], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c) => stderr += c.toString());
    const out = new import_node_stream13.PassThrough();
    child.stdout.pipe(out);
    child.on("error", (e) => out.destroy(e));
    child.on("close", (code) => {
      if (code !== 0 && code !== null) out.destroy(new BuildError("E_ADD_ARCHIVE", `${kind} -dc ${import_node_path24.default.basename(file2)} failed (${code}): ${stderr.trim()}`));
    });
    out.on("close", () => child.kill());
    return out;
  }
  return decompressedStream((0, import_node_fs23.createReadStream)(file2));
}
async function isArchive(file2) {
  let input;
  try {
    input = await archiveTar(file2);
  } catch {
    return false;
  }
  const extract2 = import_tar_stream.default.extract();
  try {
    return await new Promise((resolve5) => {
      extract2.once("entry", () => resolve5(true));
      extract2.once("finish", () => resolve5(false));
      extract2.once("error", () => resolve5(false));
      input.once("error", () => resolve5(false));
      input.pipe(extract2);
    });
  } finally {
    input.unpipe(extract2);
    input.destroy();
    extract2.destroy();
  }
}
async function unpackArchive(file2, destRoot, dest, owner) {
  await mkdirAllInRoot(destRoot, dest, 493, owner ?? { uid: 0, gid: 0 });
  const target = await resolveInRoot(destRoot, dest);
  await applyLayer(target, await archiveTar(file2), { whiteouts: "none", ...owner ? { owner } : {} });
}

// packages/builder/src/solve/image-source.ts
var import_node_path26 = __toESM(require("node:path"), 1);

// packages/builder/src/oci-layout/read.ts
var import_node_fs24 = require("node:fs");
var import_promises35 = require("node:fs/promises");
var import_node_path25 = require("node:path");

// packages/builder/src/oci-layout/errors.ts
var OciLayoutError = class extends BuildError {
  name = "OciLayoutError";
  constructor(code, message, options = {}) {
    super(code, message, options);
  }
};

// packages/builder/src/oci-layout/read.ts
function layoutBlobPath(dir, digest) {
  if (!isDigest(digest)) {
    throw new OciLayoutError("E_OCI_LAYOUT_INVALID", `OCI layout ${dir} references an invalid digest "${digest}" (only sha256 digests are supported).`, { data: { dir, digest } });
  }
  return (0, import_node_path25.join)(dir, "blobs", "sha256", digestHex(digest));
}
async function readBlobJson(dir, desc, what) {
  const path28 = layoutBlobPath(dir, desc.digest);
  let bytes;
  try {
    bytes = await (0, import_promises35.readFile)(path28);
  } catch {
    throw new OciLayoutError("E_OCI_LAYOUT_BLOB_MISSING", `OCI layout ${dir} is missing the ${what} blob ${desc.digest} (expected at blobs/sha256/${digestHex(desc.digest)}).`, {
      data: { dir, digest: desc.digest, what }
    });
  }
  if (sha256Digest(bytes) !== desc.digest || desc.size !== void 0 && bytes.length !== desc.size) {
    throw new OciLayoutError("E_OCI_LAYOUT_DIGEST_MISMATCH", `OCI layout ${dir}: the ${what} blob ${desc.digest} does not match its digest or size; the layout is corrupt.`, {
      data: { dir, digest: desc.digest, what }
    });
  }
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new OciLayoutError("E_OCI_LAYOUT_INVALID", `OCI layout ${dir}: the ${what} blob ${desc.digest} is not valid JSON.`, { cause: err, data: { dir, digest: desc.digest } });
  }
}
function refNames(d) {
  return [d.annotations?.[Annotation.RefName], d.annotations?.[Annotation.ContainerdImageName]].filter((v) => v !== void 0);
}
async function findByDigest(dir, index, digest, depth = 0) {
  for (const d of index.manifests ?? []) {
    if (d.digest === digest) return d;
  }
  if (depth > 8) return void 0;
  for (const d of index.manifests ?? []) {
    if (isIndexMediaType(d.mediaType)) {
      const found = await findByDigest(dir, await readBlobJson(dir, d, "index"), digest, depth + 1);
      if (found) return found;
    }
  }
  return void 0;
}
async function readOciLayout(dir, options = {}) {
  let index;
  try {
    index = JSON.parse(await (0, import_promises35.readFile)((0, import_node_path25.join)(dir, "index.json"), "utf8"));
  } catch (err) {
    const missing = err.code === "ENOENT";
    throw new OciLayoutError(
      missing ? "E_OCI_LAYOUT_NOT_FOUND" : "E_OCI_LAYOUT_INVALID",
      missing ? `${dir} is not an OCI image layout: it has no index.json.` : `${dir}/index.json is not valid JSON: ${err.message}`,
      { cause: err, data: { dir } }
    );
  }
  if (!Array.isArray(index.manifests)) {
    throw new OciLayoutError("E_OCI_LAYOUT_INVALID", `${dir}/index.json has no "manifests" array.`, { data: { dir } });
  }
  const platform = options.platform ?? hostPlatform();
  let root;
  if (options.digest !== void 0) {
    root = await findByDigest(dir, index, options.digest);
    if (!root) {
      const exists2 = await (0, import_promises35.stat)(layoutBlobPath(dir, options.digest)).catch(() => void 0);
      if (exists2) {
        const doc = JSON.parse(await (0, import_promises35.readFile)(layoutBlobPath(dir, options.digest), "utf8"));
        root = { mediaType: doc.mediaType ?? (doc.manifests ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json"), digest: options.digest, size: exists2.size };
      }
    }
    if (root && options.tag !== void 0 && !refNames(root).includes(options.tag) && index.manifests.some((d) => refNames(d).includes(options.tag))) {
      root = void 0;
    }
    if (!root) {
      throw new OciLayoutError("E_OCI_LAYOUT_REF_NOT_FOUND", `OCI layout ${dir} has no manifest with digest ${options.digest}.`, { data: { dir, digest: options.digest } });
    }
  } else if (options.tag !== void 0) {
    const matches = index.manifests.filter((d) => refNames(d).includes(options.tag));
    if (matches.length === 0) {
      const available = [...new Set(index.manifests.flatMap((d) => d.annotations?.[Annotation.RefName] ? [d.annotations[Annotation.RefName]] : []))];
      throw new OciLayoutError("E_OCI_LAYOUT_REF_NOT_FOUND", `OCI layout ${dir} has no image tagged "${options.tag}" (tags present: ${available.length ? available.join(", ") : "none"}).`, {
        data: { dir, tag: options.tag, available }
      });
    }
    root = matches[0];
  } else {
    if (index.manifests.length !== 1) {
      throw new OciLayoutError("E_OCI_LAYOUT_AMBIGUOUS", `OCI layout ${dir} holds ${index.manifests.length} entries; name one with :TAG or @DIGEST.`, { data: { dir, count: index.manifests.length } });
    }
    root = index.manifests[0];
  }
  let current = root;
  for (let depth = 0; isIndexMediaType(current.mediaType) || !isManifestMediaType(current.mediaType); depth++) {
    if (isManifestMediaType(current.mediaType)) break;
    const doc = await readBlobJson(dir, current, "index");
    if (!Array.isArray(doc.manifests)) {
      if (doc.config && Array.isArray(doc.layers)) {
        current = { ...current, mediaType: doc.mediaType ?? "application/vnd.oci.image.manifest.v1+json" };
        break;
      }
      throw new OciLayoutError("E_OCI_LAYOUT_INVALID", `OCI layout ${dir}: blob ${current.digest} is neither an image index nor a manifest.`, { data: { dir, digest: current.digest } });
    }
    const candidates = doc.manifests.filter((d) => isIndexMediaType(d.mediaType) || platformRank(platform, d.platform) !== void 0);
    const next = candidates.find((d) => !isIndexMediaType(d.mediaType)) ?? candidates[0];
    if (!next || depth > 8) {
      throw new OciLayoutError(
        "E_OCI_LAYOUT_PLATFORM_NOT_FOUND",
        `OCI layout ${dir}: the index ${current.digest} has no manifest for ${formatPlatform2(platform)} (it has ${doc.manifests.map((d) => formatPlatform2(d.platform)).join(", ") || "none"}).`,
        { data: { dir, digest: current.digest, platform: formatPlatform2(platform) } }
      );
    }
    current = next;
  }
  const manifest = await readBlobJson(dir, current, "manifest");
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new OciLayoutError("E_OCI_LAYOUT_INVALID", `OCI layout ${dir}: manifest ${current.digest} has no config or layers.`, { data: { dir, digest: current.digest } });
  }
  const config = await readBlobJson(dir, manifest.config, "config");
  const manifestDescriptor = { mediaType: manifest.mediaType ?? current.mediaType, digest: current.digest, size: current.size };
  return { manifestDigest: current.digest, manifestDescriptor, manifest, config, layers: manifest.layers, rootDescriptor: root };
}
async function importOciLayoutBlobs(dir, image, store) {
  const all = [image.manifestDescriptor, image.manifest.config, ...image.manifest.layers];
  for (const desc of all) {
    if (await store.has(desc.digest)) continue;
    const path28 = layoutBlobPath(dir, desc.digest);
    const st = await (0, import_promises35.stat)(path28).catch(() => void 0);
    if (!st) {
      throw new OciLayoutError("E_OCI_LAYOUT_BLOB_MISSING", `OCI layout ${dir} is missing blob ${desc.digest} (${desc.mediaType}) at blobs/sha256/${digestHex(desc.digest)}.`, {
        data: { dir, digest: desc.digest }
      });
    }
    try {
      await store.put((0, import_node_fs24.createReadStream)(path28), { expected: desc.digest, size: desc.size });
    } catch (err) {
      throw new OciLayoutError("E_OCI_LAYOUT_DIGEST_MISMATCH", `OCI layout ${dir}: blob ${desc.digest} does not match its digest or size (${err.message}).`, {
        cause: err,
        data: { dir, digest: desc.digest }
      });
    }
  }
}

// packages/builder/src/solve/image-source.ts
var ImageSources = class {
  constructor(store, registry, named) {
    this.store = store;
    this.registry = registry;
    this.named = named;
  }
  store;
  registry;
  named;
  cache = /* @__PURE__ */ new Map();
  /**
   * The named context that replaces `ref`, looked up like BuildKit's dockerui: by the name as
   * written, then by its normalized form (`busybox` and `docker.io/library/busybox:latest`).
   */
  namedContext(ref, normalizedRef) {
    const candidates = [ref, normalizedRef, normalizedRef?.replace(/^docker\.io\/library\//, ""), normalizedRef?.replace(/^docker\.io\/library\/(.*):latest$/, "$1")];
    for (const c of candidates) {
      if (c !== void 0 && this.named.has(c)) return this.named.get(c);
    }
    return void 0;
  }
  /** Resolves (once per ref and platform) and makes every blob of the image present in the store. */
  resolve(ref, normalizedRef, platform) {
    const key = `${normalizedRef}|${platform.string}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.load(ref, normalizedRef, platform);
      this.cache.set(key, p);
    }
    return p;
  }
  async load(ref, normalizedRef, platform) {
    const named = this.namedContext(ref, normalizedRef);
    const wanted = { os: platform.os, architecture: platform.architecture, ...platform.variant ? { variant: platform.variant } : {} };
    if (named?.kind === "oci-layout") {
      const dir = import_node_path26.default.resolve(named.dir);
      const img2 = await readOciLayout(dir, { ...named.tag ? { tag: named.tag } : {}, ...named.digest ? { digest: named.digest } : {}, platform: wanted });
      await importOciLayoutBlobs(dir, img2, this.store);
      return { config: img2.config, layers: withDiffIds(img2.config, img2.layers), manifestDigest: img2.manifestDigest, source: `oci-layout://${dir}` };
    }
    if (named?.kind === "local") {
      throw new BuildError("E_NAMED_CONTEXT", `build context "${ref}" is a directory; use it with COPY --from=${ref}, not FROM`, { data: { ref } });
    }
    const target = named?.kind === "image" ? named.ref : normalizedRef;
    const img = await this.registry.pullImage(target, wanted, this.store);
    return { config: img.config, layers: withDiffIds(img.config, img.layers), manifestDigest: img.manifestDigest, source: target };
  }
};
function withDiffIds(config, layers) {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new BuildError("E_IMAGE_INVALID", `image config lists ${diffIds.length} diff_ids but the manifest has ${layers.length} layers`, { data: {} });
  }
  return layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: diffIds[i] }));
}

// packages/builder/src/solve/run-step.ts
var import_node_crypto22 = require("node:crypto");
var import_node_child_process12 = require("node:child_process");
var import_promises37 = require("node:fs/promises");
var import_node_util7 = require("node:util");
var import_node_os10 = __toESM(require("node:os"), 1);
var import_node_path28 = __toESM(require("node:path"), 1);

// packages/builder/src/solve/image-config.ts
var import_node_path27 = __toESM(require("node:path"), 1);

// packages/builder/src/solve/go-format.ts
function goList(values) {
  return `[${values.join(" ")}]`;
}
function goTime(ms) {
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac) => frac ? `.${frac}Z` : "Z");
}
function goDuration(ns) {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = BigInt(Math.abs(Math.trunc(ns)));
  let out;
  if (u < 1000000000n) {
    const [unit, div] = u < 1000n ? ["ns", 1n] : u < 1000000n ? ["\xB5s", 1000n] : ["ms", 1000000n];
    out = fraction(u, div) + unit;
  } else {
    const h = u / 3600000000000n;
    u -= h * 3600000000000n;
    const m = u / 60000000000n;
    u -= m * 60000000000n;
    const s = fraction(u, 1000000000n) + "s";
    out = h > 0n ? `${h}h${m}m${s}` : m > 0n ? `${m}m${s}` : s;
  }
  return neg ? "-" + out : out;
}
function fraction(value, div) {
  const int = value / div;
  let rest = value % div;
  if (rest === 0n) return String(int);
  let digits = "";
  let scale = div;
  while (rest > 0n && scale > 1n) {
    scale /= 10n;
    digits += String(rest / scale);
    rest %= scale;
  }
  return `${int}.${digits.replace(/0+$/, "")}`;
}

// packages/builder/src/solve/image-config.ts
var HISTORY_COMMENT = "buildkit.dockerfile.v0";
var DEFAULT_PATH3 = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
var DEFAULT_SHELL = ["/bin/sh", "-c"];
function cloneConfig(img) {
  return structuredClone(img);
}
function emptyImageConfig(platform) {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...platform.variant ? { variant: platform.variant } : {},
    rootfs: { type: "layers", diff_ids: [] },
    config: { Env: [`PATH=${DEFAULT_PATH3}`], WorkingDir: "/" }
  };
}
function stageStartConfig(base) {
  const img = cloneConfig(base);
  delete img.created;
  img.config ??= {};
  delete img.config.OnBuild;
  img.history ??= [];
  img.config.Env ??= [];
  if (!img.config.Env.some((e) => e.startsWith("PATH=")) && img.os !== "windows") img.config.Env.push(`PATH=${DEFAULT_PATH3}`);
  return img;
}
function addHistory(img, createdBy2, options) {
  const entry = {
    ...options.created ? { created: options.created } : {},
    created_by: options.buildkitSuffix ? `${createdBy2} # buildkit` : createdBy2,
    comment: HISTORY_COMMENT
  };
  if (!options.layer) entry.empty_layer = true;
  (img.history ??= []).push(entry);
}
function cfg(img) {
  return img.config ??= {};
}
function setEnv(env, key, value) {
  const i = env.findIndex((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e) === key);
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  return env;
}
function getEnv(env, key) {
  for (const e of env ?? []) {
    const eq = e.indexOf("=");
    if ((eq < 0 ? e : e.slice(0, eq)) === key) return eq < 0 ? "" : e.slice(eq + 1);
  }
  return void 0;
}
function applyEnv(img, pairs) {
  const c = cfg(img);
  c.Env ??= [];
  for (const [k, v] of pairs) setEnv(c.Env, k, v);
  addHistory(img, "ENV" + pairs.map(([k, v]) => ` ${k}=${v}`).join(""), { layer: false });
}
function applyLabel(img, pairs) {
  const c = cfg(img);
  c.Labels ??= {};
  for (const [k, v] of pairs) c.Labels[k] = v;
  addHistory(img, "LABEL" + pairs.map(([k, v]) => ` ${k}=${v}`).join(""), { layer: false });
}
function applyMaintainer(img, maintainer) {
  img.author = maintainer;
  addHistory(img, `MAINTAINER ${maintainer}`, { layer: false });
}
function applyExpose(img, ports) {
  const c = cfg(img);
  c.ExposedPorts ??= {};
  for (const p of ports) c.ExposedPorts[p] = {};
  addHistory(img, `EXPOSE ${goList(ports)}`, { layer: false });
}
function applyUser(img, user) {
  cfg(img).User = user;
  addHistory(img, `USER ${user}`, { layer: false });
}
function normalizeWorkdir2(current, requested) {
  const joined = requested.startsWith("/") ? requested : import_node_path27.default.posix.join(current || "/", requested);
  return import_node_path27.default.posix.normalize("/" + joined).replace(/(.)\/$/, "$1");
}
function withShell(img, script) {
  const shell = img.config?.Shell?.length ? img.config.Shell : DEFAULT_SHELL;
  return [...shell, script];
}
function applyCmd(img, args) {
  const c = cfg(img);
  if (args.length) c.Cmd = args;
  else delete c.Cmd;
  c.ArgsEscaped = true;
  addHistory(img, `CMD ${goQuoteList(args)}`, { layer: false });
}
function applyEntrypoint(img, args, cmdSetInStage) {
  const c = cfg(img);
  if (args.length) c.Entrypoint = args;
  else delete c.Entrypoint;
  if (!cmdSetInStage) delete c.Cmd;
  addHistory(img, `ENTRYPOINT ${goQuoteList(args)}`, { layer: false });
}
function applyHealthcheck(img, health) {
  const h = {
    Test: health.Test ?? [],
    Interval: health.Interval ?? 0,
    Timeout: health.Timeout ?? 0,
    StartPeriod: health.StartPeriod ?? 0,
    StartInterval: health.StartInterval ?? 0,
    Retries: health.Retries ?? 0
  };
  const stored = {};
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v) ? v.length > 0 : v !== 0) stored[k] = v;
  }
  cfg(img).Healthcheck = stored;
  const text = `{Test:${goList(h.Test)} Interval:${goDuration(h.Interval)} Timeout:${goDuration(h.Timeout)} StartPeriod:${goDuration(h.StartPeriod)} StartInterval:${goDuration(h.StartInterval)} Retries:${h.Retries}}`;
  addHistory(img, `HEALTHCHECK ${text}`, { layer: false });
}
function applyVolume(img, volumes) {
  const c = cfg(img);
  c.Volumes ??= {};
  for (const v of volumes) c.Volumes[v] = {};
  addHistory(img, `VOLUME ${goList(volumes)}`, { layer: false });
}
function applyStopSignal(img, signal) {
  cfg(img).StopSignal = signal;
  addHistory(img, `STOPSIGNAL ${signal}`, { layer: false });
}
function applyShell(img, shell) {
  cfg(img).Shell = shell;
  addHistory(img, `SHELL ${goList(shell)}`, { layer: false });
}
function applyOnbuild(img, expression) {
  (cfg(img).OnBuild ??= []).push(expression);
}
function applyArg(img, args) {
  addHistory(img, "ARG " + args.map((a) => a.value === void 0 ? a.name : `${a.name}=${a.value}`).join(" "), { layer: false });
}
function runCreatedBy(args, stageArgs, env) {
  const order = [];
  const values = /* @__PURE__ */ new Map();
  for (const a of stageArgs) {
    const v = getEnv(env, a.name) ?? a.value ?? "";
    if (!values.has(a.name)) order.push(a.name);
    values.set(a.name, v);
  }
  const prefix = order.length ? [`|${order.length}`, ...order.map((k) => `${k}=${values.get(k)}`)] : [];
  return "RUN " + [...prefix, ...args].join(" ");
}

// packages/builder/src/solve/errors.ts
var StepFailedError = class extends BuildError {
  name = "StepFailedError";
  constructor(code, message, location, source, data = {}, cause) {
    super(code, `${location.file}:${location.line}: ${message}`, { location, data, ...source !== void 0 ? { source } : {}, ...cause !== void 0 ? { cause } : {} });
  }
};

// packages/builder/src/solve/cache-lock.ts
var import_node_child_process11 = require("node:child_process");
var import_promises36 = require("node:timers/promises");
var queues = /* @__PURE__ */ new Map();
var BUSY_EXIT = 75;
async function lockCacheDir(dir, options = {}) {
  const local = await localLock(dir);
  try {
    for (let delay = 20; ; delay = Math.min(500, Math.round(delay * 1.5))) {
      options.signal?.throwIfAborted();
      const file2 = await tryFileLock(`${dir}.lock`);
      if (file2) return { release: () => file2.release().finally(local) };
      try {
        await (0, import_promises36.setTimeout)(delay, void 0, options.signal ? { signal: options.signal } : {});
      } catch (e) {
        options.signal?.throwIfAborted();
        throw e;
      }
    }
  } catch (e) {
    local();
    throw e;
  }
}
async function tryLockCacheDir(dir) {
  if (queues.has(dir)) return void 0;
  const local = await localLock(dir);
  try {
    const file2 = await tryFileLock(`${dir}.lock`);
    if (!file2) {
      local();
      return void 0;
    }
    return { release: () => file2.release().finally(local) };
  } catch (e) {
    local();
    throw e;
  }
}
async function localLock(dir) {
  const before = queues.get(dir) ?? Promise.resolve();
  let release;
  const mine = new Promise((r) => release = r);
  const tail = before.then(() => mine);
  queues.set(dir, tail);
  await before;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
    if (queues.get(dir) === tail) queues.delete(dir);
  };
}
async function tryFileLock(file2) {
  const viaHelper = await helperTryLock(file2);
  if (viaHelper === "busy") return void 0;
  if (viaHelper !== void 0) return { release: () => helperUnlock(viaHelper) };
  return flockProcess(file2);
}
function flockProcess(file2) {
  return new Promise((resolve5, reject) => {
    const child = (0, import_node_child_process11.spawn)("flock", ["--nonblock", "--conflict-exit-code", String(BUSY_EXIT), file2, "sh", "-c", "echo held; exec cat >/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"]
    });
    let stderr = "";
    let held = false;
    child.stderr.on("data", (c) => stderr += c.toString());
    child.stdout.once("data", () => {
      held = true;
      const exited = new Promise((r) => child.once("close", () => r()));
      resolve5({
        release: async () => {
          child.stdin.end();
          await exited;
        }
      });
    });
    child.on("error", (e) => reject(new Error(`cannot lock ${file2}: flock: ${e.message} (install util-linux)`)));
    child.on("close", (code) => {
      if (held) return;
      if (code === BUSY_EXIT) resolve5(void 0);
      else reject(new Error(`cannot lock ${file2}: flock exited ${code}: ${stderr.trim()}`));
    });
  });
}

// packages/builder/src/solve/run-step.ts
var execFileP2 = (0, import_node_util7.promisify)(import_node_child_process12.execFile);
var PIPES_DIR = "/dev/pipes";
function runCommand(ins, shell) {
  if (ins.command.form === "exec") return { args: ins.command.args };
  let script = ins.command.script;
  if (ins.heredocs.length > 0) {
    const only = parseHeredocWord2(script.trim());
    const first = ins.heredocs[0];
    if (only && ins.heredocs.length === 1) {
      const data = first.chomp ? chompHeredocContent(first.content) : first.content;
      if (data.startsWith("#!")) {
        return { args: shell(import_node_path28.default.posix.join(PIPES_DIR, first.name)), inlineFile: { name: first.name, data } };
      }
      script = data;
    } else {
      script = [script, ...ins.heredocs.map((h) => h.content + h.name)].join("\n");
    }
  }
  return { args: shell(script) };
}
function runStep(deps) {
  return async (ctx) => {
    const { step, state } = ctx;
    const ins = step.instruction;
    const { args, inlineFile } = runCommand(ins, (script) => withShell(state.config, script));
    const env = (step.runEnv ?? []).map(([k, v]) => `${k}=${v}`);
    const proxyEnv = (step.proxyEnv ?? []).map(([k, v]) => `${k}=${v}`);
    const user = state.config.config?.User ?? "";
    const cwd = state.config.config?.WorkingDir || "/";
    if (ins.security === "insecure" && !deps.allowInsecure) {
      throw new BuildError("E_ENTITLEMENT", "RUN --security=insecure needs the security.insecure entitlement: pass --allow security.insecure", { location: step.location });
    }
    const network = ins.network === "none" ? "none" : ins.network === "host" ? "host" : deps.network;
    const extraHosts = deps.extraHosts ?? [];
    const mounts = step.mounts ?? [];
    const mountKeys = await Promise.all(mounts.map((m) => mountKeyPart(ctx, deps, m)));
    const argNames = new Set(step.args.map(([name]) => name));
    const imageEnv = new Set((state.config.config?.Env ?? []).map((e) => e.split("=", 1)[0]));
    const parts = [
      {
        type: "op",
        value: JSON.stringify({
          kind: "RUN",
          args,
          ...inlineFile ? { inlineFile } : {},
          user,
          cwd,
          network,
          security: ins.security,
          mounts: mountKeys,
          // As in BuildKit's ExecOp, where these are part of the op; absent ones leave older keys as they were.
          ...extraHosts.length ? { extraHosts } : {},
          ...deps.ulimits?.length ? { ulimits: deps.ulimits } : {},
          ...deps.shmSize !== void 0 ? { shmSize: deps.shmSize } : {}
        })
      },
      // The process environment, with the ARG-only names keyed as `arg` so a miss says "ARG X changed".
      ...(step.runEnv ?? []).map(([name, value]) => ({ type: argNames.has(name) && !imageEnv.has(name) ? "arg" : "env", name, value })),
      ...mounts.filter((m) => m.type === "secret").map((m) => ({ type: "secret-id", value: secretId(m) }))
    ];
    const stageArgs = step.args.map(([name, value]) => ({ name, value }));
    return {
      parts,
      // BuildKit's runCommandString reads ARG values from the run state's env, where an ARG
      // declared after an ENV of the same name overrides it (the image config keeps the ENV).
      createdBy: runCreatedBy(args, stageArgs, env),
      buildkitSuffix: true,
      run: async (snapshot) => {
        const cleanup = [];
        const unlock = [];
        try {
          const execMounts = [];
          const secretEnv = [];
          for (const m of mounts) {
            const resolved2 = await resolveMount2(ctx, deps, m, cleanup, unlock, secretEnv);
            if (resolved2) execMounts.push(resolved2);
          }
          if (inlineFile) execMounts.push(await inlineFileMount(inlineFile, cleanup));
          const result = await deps.executor.run({
            rootfs: snapshot.mergedDir,
            args,
            env: [...env, ...proxyEnv, ...secretEnv],
            cwd,
            user,
            network,
            ...extraHosts.length ? { extraHosts: [...extraHosts] } : {},
            ...ins.security === "insecure" ? { security: "insecure" } : {},
            mounts: execMounts,
            onOutput: (stream, chunk) => ctx.solver.options.emit({ v: 1, type: "step-output", time: ctx.solver.now(), step: ctx.ref, stream, text: chunk.toString("utf8") }),
            signal: ctx.solver.signal
          });
          if (result.exitCode !== 0) {
            const shown = args.join(" ");
            throw new StepFailedError(
              "E_RUN_FAILED",
              `process "${shown}" did not complete successfully: exit code: ${result.exitCode}${result.tail.length ? "\n" + result.tail.map((l) => "  " + l).join("\n") : ""}`,
              step.location,
              ctx.solver.options.dockerfileText,
              { exitCode: result.exitCode, tail: result.tail }
            );
          }
          return {};
        } finally {
          for (const u of unlock) await u().catch(() => void 0);
          for (const c of cleanup.reverse()) await c().catch(() => void 0);
        }
      }
    };
  };
}
async function inlineFileMount(file2, cleanup) {
  const dir = await (0, import_promises37.mkdtemp)(import_node_path28.default.join(import_node_os10.default.tmpdir(), "build-image-pipes-"));
  cleanup.push(() => (0, import_promises37.rm)(dir, { recursive: true, force: true }));
  await (0, import_promises37.chmod)(dir, 493);
  await (0, import_promises37.writeFile)(import_node_path28.default.join(dir, file2.name), file2.data, { mode: 493 });
  await (0, import_promises37.chmod)(import_node_path28.default.join(dir, file2.name), 493);
  return { type: "bind", source: dir, target: PIPES_DIR, readonly: true };
}
async function mountKeyPart(ctx, deps, m) {
  const base = { type: m.type, target: m.target, readOnly: m.readOnly, source: m.source, mode: m.mode, uid: m.uid, gid: m.gid };
  switch (m.type) {
    case "bind":
      return { ...base, from: await deps.mounts.identity(ctx, m.sourceRef, m.source) };
    case "cache":
      return { ...base, id: cacheId(m), sharing: m.sharing || "shared", from: m.from ? await deps.mounts.identity(ctx, m.sourceRef, m.source) : null };
    case "tmpfs":
      return { type: m.type, target: m.target, size: m.sizeLimit };
    case "secret":
      return { type: m.type, id: m.id, target: m.target, env: m.env ?? null, required: m.required };
    case "ssh":
      return { type: m.type, id: m.id || "default", target: m.target };
  }
}
function cacheId(m) {
  return m.id || import_node_path28.default.posix.normalize(m.target).replace(/(.)\/+$/, "$1");
}
function secretId(m) {
  return m.id || import_node_path28.default.posix.basename(m.target);
}
function cacheMountHostDir(cacheMountsDir, id) {
  return import_node_path28.default.join(cacheMountsDir, (0, import_node_crypto22.createHash)("sha256").update(id).digest("hex"));
}
async function resolveMount2(ctx, deps, m, cleanup, unlock, secretEnv) {
  switch (m.type) {
    case "bind": {
      const source = await deps.mounts.materialize(ctx, m.sourceRef, m.source, cleanup);
      return { type: "bind", source, target: m.target, readonly: m.readOnly };
    }
    case "cache": {
      const id = cacheId(m);
      const sharing = m.sharing || "shared";
      await (0, import_promises37.mkdir)(deps.cacheMountsDir, { recursive: true });
      let hostDir = cacheMountHostDir(deps.cacheMountsDir, id);
      if (sharing === "locked") {
        const held = await lockCacheDir(hostDir, { signal: ctx.solver.signal });
        unlock.push(() => held.release());
      } else if (sharing === "private") {
        const held = await tryLockCacheDir(hostDir);
        if (held) unlock.push(() => held.release());
        else {
          hostDir = await (0, import_promises37.mkdtemp)(import_node_path28.default.join(deps.cacheMountsDir, "private-"));
          cleanup.push(() => (0, import_promises37.rm)(hostDir, { recursive: true, force: true }));
        }
      }
      if (m.from) await seedCacheDir(hostDir, await deps.mounts.materialize(ctx, m.sourceRef, m.source, cleanup));
      return { type: "cache", hostDir, target: m.target, readonly: m.readOnly, ...m.uid !== void 0 ? { uid: m.uid } : {}, ...m.gid !== void 0 ? { gid: m.gid } : {}, ...m.mode !== void 0 ? { mode: m.mode } : {} };
    }
    case "tmpfs":
      return { type: "tmpfs", target: m.target, ...m.sizeLimit ? { size: m.sizeLimit } : {} };
    case "secret": {
      const id = secretId(m);
      const src = deps.secrets.get(id);
      const value = src ? "file" in src ? await (0, import_promises37.readFile)(src.file).catch(() => void 0) : process.env[src.env] : void 0;
      if (value === void 0) {
        if (m.required) throw new BuildError("E_SECRET_MISSING", `secret ${id} not found: pass it with --secret id=${id},src=FILE or env=VAR`, { location: ctx.step.location, data: { id } });
        return void 0;
      }
      if (m.env) {
        secretEnv.push(`${m.env}=${value.toString()}`);
        if (!m.target) return void 0;
      }
      return { type: "secret", target: m.target || `/run/secrets/${id}`, content: typeof value === "string" ? value : new Uint8Array(value), ...m.uid !== void 0 ? { uid: m.uid } : {}, ...m.gid !== void 0 ? { gid: m.gid } : {}, ...m.mode !== void 0 ? { mode: m.mode } : {} };
    }
    case "ssh": {
      const id = m.id || "default";
      const socket = deps.ssh.get(id) ?? (id === "default" ? process.env.SSH_AUTH_SOCK : void 0);
      if (!socket) {
        if (m.required) throw new BuildError("E_SSH_MISSING", `no SSH agent for id ${id}: pass --ssh ${id}=SOCKET or set SSH_AUTH_SOCK`, { location: ctx.step.location, data: { id } });
        return void 0;
      }
      const target = m.target || "/run/buildkit/ssh_agent.0";
      secretEnv.push(`SSH_AUTH_SOCK=${target}`);
      return { type: "ssh", socketPath: socket, target };
    }
  }
}
async function seedCacheDir(hostDir, source) {
  const exists2 = () => (0, import_promises37.stat)(hostDir).then(() => true, () => false);
  if (await exists2()) return;
  const tmp = `${hostDir}.seed-${process.pid}-${Date.now()}`;
  try {
    await execFileP2("cp", ["-a", "--", source, tmp]);
    await (0, import_promises37.rename)(tmp, hostDir);
  } catch (e) {
    await (0, import_promises37.rm)(tmp, { recursive: true, force: true });
    if (!await exists2()) throw e;
  }
}

// packages/builder/src/solve/solver.ts
var InputsUnknownError = class extends Error {
};
var PENDING_LAYER = {
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: `sha256:${"0".repeat(64)}`,
  size: 0
};
var KEY_CONFIG = "build-image/solver/v1";
var Solver = class {
  options;
  stages = /* @__PURE__ */ new Map();
  limit;
  refs = /* @__PURE__ */ new Map();
  /** Fired when a stage fails, so stages running beside it stop too (as BuildKit cancels them). */
  failed = new AbortController();
  /** The caller's signal combined with the solver's own failure signal: what steps must honour. */
  signal;
  counts = { run: 0, cached: 0 };
  /** Every layer step's key, for exporting the cache (`--cache-to`, mode=min keeps the target's). */
  entries = [];
  /** Plan mode: the predictions, in step order. */
  planned = [];
  /** Index writes of finished steps, settled before the build is reported done. */
  puts = [];
  /** Layers still being written, by their placeholder descriptor (see {@link PendingLayer}). */
  pendingLayers = /* @__PURE__ */ new Map();
  /** The pending layers of each stage being solved, in step order. */
  pendingByStage = /* @__PURE__ */ new WeakMap();
  constructor(options) {
    this.options = options;
    this.limit = pLimit(options.concurrency ?? 2);
    this.signal = options.signal ? AbortSignal.any([options.signal, this.failed.signal]) : this.failed.signal;
    let id = 0;
    for (const stage of options.graph.stages) {
      const stageLabel = stage.name ?? `stage-${stage.index}`;
      for (const step of stage.steps) {
        id++;
        this.refs.set(step, { id, stage: stageLabel, index: step.index + 1, total: stage.steps.length, name: stepName(step), line: step.location.line });
      }
    }
  }
  get store() {
    return this.options.store;
  }
  /** The final state of the target stage, once every step's cache entry is recorded. */
  async solveTarget() {
    try {
      const state = await this.stage(this.options.graph.target);
      await Promise.all(this.puts);
      return state;
    } finally {
      await Promise.allSettled(this.puts);
    }
  }
  /**
   * A stage whose files or key another step reads (COPY --from, RUN --mount from=). In plan mode
   * it may not be knowable yet: then the reading step's inputs are unknown too.
   */
  async sourceStage(index) {
    const state = await this.stage(index);
    if (state.keyUnknown) throw new InputsUnknownError(`it reads stage ${this.stageLabel(index)}, whose result is only known after it runs`);
    return state;
  }
  stageLabel(index) {
    return this.options.graph.stages.find((s) => s.index === index)?.name ?? `stage-${index}`;
  }
  /** A stage's final state; each stage is solved once, its dependencies first and in parallel. */
  stage(index) {
    let p = this.stages.get(index);
    if (!p) {
      const stage = this.options.graph.stages.find((s) => s.index === index);
      if (!stage) return Promise.reject(new BuildError("E_UNKNOWN_STAGE", `stage ${index} is not part of this build`, { data: { index } }));
      p = (async () => {
        await Promise.all(stage.dependsOn.map((d) => this.stage(d)));
        return this.limit(() => this.runStage(stage));
      })();
      p.catch((e) => {
        if (!this.failed.signal.aborted) this.failed.abort(e);
      });
      this.stages.set(index, p);
    }
    return p;
  }
  async runStage(stage) {
    const state = await this.baseState(stage);
    const pending2 = [];
    this.pendingByStage.set(state, pending2);
    try {
      for (const step of stage.steps) {
        this.signal.throwIfAborted();
        await this.runStep(stage, step, state);
      }
      for (const p of pending2) await p.stored;
      if (pending2.length > 0) state.config.rootfs = { type: "layers", diff_ids: state.layers.map((l) => l.diffId) };
      return state;
    } finally {
      const finished = await Promise.allSettled(pending2.map((p) => p.finish()));
      for (const p of pending2) this.pendingLayers.delete(p.placeholder);
      this.pendingByStage.delete(state);
      const failed = finished.find((f) => f.status === "rejected");
      if (failed) throw failed.reason;
    }
  }
  async baseState(stage) {
    const platform = stage.platform.string;
    switch (stage.base.kind) {
      case "scratch": {
        const config = emptyImageConfig(stage.platform);
        config.history = [];
        return { config, layers: [], key: computeCacheKey([{ type: "op", value: "scratch" }, { type: "platform", value: platform }]).key, cmdSet: false, baseHistoryLength: 0 };
      }
      case "stage": {
        const base = await this.stage(stage.base.index);
        return { config: stageStartConfig(base.config), layers: [...base.layers], key: base.key, cmdSet: false, baseHistoryLength: base.baseHistoryLength, ...base.keyUnknown ? { keyUnknown: true } : {} };
      }
      case "image": {
        const img = await this.options.images.resolve(stage.base.ref, stage.base.normalizedRef, stage.platform);
        const config = stageStartConfig(img.config);
        return {
          config,
          layers: [...img.layers],
          // a copy: the resolved image is shared by every stage built on it
          key: computeCacheKey([{ type: "base", value: img.manifestDigest }, { type: "platform", value: platform }]).key,
          cmdSet: false,
          baseHistoryLength: config.history?.length ?? 0
        };
      }
    }
  }
  async runStep(stage, step, state) {
    const ins = step.instruction;
    const img = state.config;
    const ref = this.refs.get(step);
    switch (ins.kind) {
      case "ENV":
        applyEnv(img, ins.env.map((e) => [e.key, e.value]));
        return;
      case "LABEL":
        applyLabel(img, ins.labels.map((e) => [e.key, e.value]));
        return;
      case "MAINTAINER":
        applyMaintainer(img, ins.maintainer);
        return;
      case "EXPOSE":
        applyExpose(img, step.exposedPorts ?? ins.ports);
        return;
      case "USER":
        applyUser(img, ins.user);
        return;
      case "VOLUME":
        applyVolume(img, ins.volumes);
        return;
      case "STOPSIGNAL":
        applyStopSignal(img, ins.signal);
        return;
      case "SHELL":
        applyShell(img, ins.shell);
        return;
      case "ONBUILD":
        applyOnbuild(img, ins.expression);
        return;
      case "ARG": {
        applyArg(img, ins.args.map((a) => ({ name: a.key, value: this.options.buildArgs?.[a.key] ?? a.value })));
        return;
      }
      case "CMD":
        applyCmd(img, ins.command.form === "exec" ? ins.command.args : withShell(img, ins.command.script));
        state.cmdSet = true;
        return;
      case "ENTRYPOINT":
        applyEntrypoint(img, ins.command.form === "exec" ? ins.command.args : withShell(img, ins.command.script), state.cmdSet);
        return;
      case "HEALTHCHECK":
        applyHealthcheck(
          img,
          ins.health.kind === "none" ? { Test: ["NONE"] } : { Test: ins.health.test, Interval: ins.health.interval, Timeout: ins.health.timeout, StartPeriod: ins.health.startPeriod, StartInterval: ins.health.startInterval, Retries: ins.health.retries }
        );
        return;
      case "WORKDIR": {
        const wd = normalizeWorkdir2(img.config?.WorkingDir, ins.path);
        (img.config ??= {}).WorkingDir = wd;
        if (wd === "/") {
          addHistory(img, `WORKDIR ${wd}`, { layer: false });
          return;
        }
        break;
      }
      case "FROM":
        return;
      default:
        break;
    }
    const factory = this.options.layerOps[ins.kind];
    if (!factory) throw new BuildError("E_UNSUPPORTED", `${ins.kind} is not supported by this build`, { location: step.location });
    await this.layerStep({ solver: this, stage, step, state, ref }, factory);
  }
  async layerStep(ctx, factory) {
    if (this.options.plan) return this.planStep(ctx, factory);
    const { ref } = ctx;
    const emit = this.options.emit;
    const started = this.now();
    emit({ v: 1, type: "step-start", time: started, step: ref });
    let op;
    try {
      op = await factory(ctx);
    } catch (e) {
      throw this.stepError(ctx, e);
    }
    try {
      await this.cachedOrRun(ctx, op, started);
    } finally {
      await op.dispose?.();
    }
  }
  /** The step's key: its parts framed with the parent key, the platform and the solver's settings. */
  keyOf(ctx, op) {
    const parts = [
      { type: "parent", value: op.independent ? null : ctx.state.key },
      { type: "platform", value: ctx.stage.platform.string },
      { type: "extra", name: "solver", value: KEY_CONFIG },
      ...this.options.sourceDateEpoch !== void 0 ? [{ type: "extra", name: "source-date-epoch", value: String(this.options.sourceDateEpoch) }] : [],
      ...op.parts
    ];
    return { ...computeCacheKey(parts), stepId: stepIdentity(this.options.projectId, ctx.stage, ctx.step) };
  }
  /** The key the next step builds on: a --link layer is keyed independently, then chained. */
  nextKey(state, op, key) {
    return op.independent ? computeCacheKey([{ type: "parent", value: state.key }, { type: "input", name: "link", value: key }]).key : key;
  }
  /** Plan mode: the key is computed and looked up (with `peek`, which changes nothing); nothing runs. */
  async planStep(ctx, factory) {
    const { step, state, ref } = ctx;
    const record = (p) => this.planned.push({ step: ref, kind: step.kind, ...p });
    if (state.keyUnknown) {
      record({ prediction: "unknown", reasons: ["an earlier step of this stage has inputs only known after running"] });
      state.layers.push(PENDING_LAYER);
      return;
    }
    let op;
    try {
      op = await factory(ctx);
    } catch (e) {
      if (!(e instanceof InputsUnknownError)) throw e;
      record({ prediction: "unknown", reasons: [`inputs unknown until the build runs: ${e.message}`] });
      state.keyUnknown = true;
      state.layers.push(PENDING_LAYER);
      return;
    }
    try {
      const { key, preimage, stepId } = this.keyOf(ctx, op);
      const hit = this.options.noCache ? void 0 : await this.options.index.peek(key);
      const layer = hit?.layers?.[0] && await this.store.has(hit.layers[0].digest) ? hit.layers[0] : void 0;
      if (layer) {
        record({ prediction: "hit", key, reasons: [], layer: { digest: layer.digest, size: layer.size } });
        state.layers.push(layer);
      } else {
        record({ prediction: "miss", key, reasons: await this.explain(stepId, preimage) });
        state.layers.push(PENDING_LAYER);
      }
      state.key = this.nextKey(state, op, key);
    } finally {
      await op.dispose?.();
    }
  }
  async cachedOrRun(ctx, op, started) {
    const { state, ref } = ctx;
    const emit = this.options.emit;
    const { key, preimage, stepId } = this.keyOf(ctx, op);
    const hit = this.options.noCache ? void 0 : await this.options.index.get(key, { stepId });
    let layer;
    let createdAt;
    if (hit?.layers?.[0]) {
      layer = hit.layers[0];
      createdAt = typeof hit.metadata?.createdAt === "string" ? hit.metadata.createdAt : hit.createdAt;
      this.counts.cached++;
      emit({ v: 1, type: "step-cached", time: this.now(), step: ref, key });
    } else {
      const missing = this.explain(stepId, preimage);
      missing.catch(() => void 0);
      let stored;
      try {
        ({ layer, stored } = await this.execute(ctx, op));
      } catch (e) {
        throw this.stepError(ctx, e);
      }
      createdAt = goTime(this.now());
      const created = createdAt;
      const put = Promise.all([stored, missing]).then(([l, miss]) => {
        emit({ v: 1, type: "step-done", time: this.now(), step: ref, durationMs: this.now() - started, key, miss, layer: { digest: l.digest, size: l.size } });
        return this.options.index.put(key, { layers: [l], metadata: { createdAt: created } }, preimage, { stepId });
      });
      put.catch(() => void 0);
      this.puts.push(put);
      this.counts.run++;
    }
    state.layers.push(layer);
    state.config.rootfs = { type: "layers", diff_ids: state.layers.map((l) => l.diffId) };
    state.key = this.nextKey(state, op, key);
    this.entries.push({ key, stepId, stage: ctx.stage.index });
    addHistory(state.config, op.createdBy, { layer: true, buildkitSuffix: op.buildkitSuffix, created: createdAt });
  }
  async explain(stepId, preimage) {
    if (this.options.noCache) return ["--no-cache"];
    const nearest = await this.options.index.findNearest(stepId);
    if (!nearest) return ["not built before"];
    return formatMissReasons(explainMiss(preimage, nearest.preimage));
  }
  /**
   * Runs a layer op on a snapshot of the stage (or an empty one for --link). On overlay the layer
   * is stored in the background (see {@link PendingLayer}): `layer` is a placeholder until
   * `stored` resolves. Elsewhere it is stored before this returns.
   */
  async execute(ctx, op) {
    const snapshot = await this.prepare(op.independent ? [] : ctx.state.layers);
    let handedOver = false;
    try {
      const result = await op.run(snapshot) ?? {};
      const diff = await snapshot.diff();
      const write = async () => {
        const written = await writeLayerFromDirectory(diff.upperDir, this.store, {
          overlay: diff.format,
          ...result.exclude ? { exclude: result.exclude } : {},
          ...this.options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: this.options.sourceDateEpoch } : {}
        });
        return { mediaType: written.mediaType, digest: written.digest, size: written.size, diffId: written.diffId };
      };
      const pendingList = this.pendingByStage.get(ctx.state);
      if (this.options.snapshotter.kind !== "overlay" || result.exclude || !pendingList) {
        const layer = await write();
        await snapshot.commit(layer.diffId);
        return { layer, stored: Promise.resolve(layer) };
      }
      const placeholder = { mediaType: "", digest: "", size: 0 };
      const stored = write().then(
        (layer) => Object.assign(placeholder, layer),
        (e) => {
          throw this.stepError(ctx, e);
        }
      );
      stored.catch(() => void 0);
      const pending2 = {
        placeholder,
        dir: diff.upperDir,
        stored,
        finish: async () => {
          try {
            const layer = await stored.catch(() => void 0);
            if (layer) await snapshot.commit(layer.diffId);
          } finally {
            await snapshot.release();
          }
        }
      };
      pendingList.push(pending2);
      this.pendingLayers.set(placeholder, pending2);
      handedOver = true;
      return { layer: placeholder, stored };
    } finally {
      if (!handedOver) await snapshot.release();
    }
  }
  /** A writable snapshot over `layers` (extracting each layer from the store once). */
  prepare(layers) {
    if (layers.includes(PENDING_LAYER)) return Promise.reject(new InputsUnknownError("its source is a stage that will be rebuilt first"));
    const lowers = layers.map((l) => ({
      diffId: l.diffId,
      ...this.pendingLayers.has(l) ? { dir: this.pendingLayers.get(l).dir } : {},
      apply: async (dir, mode) => {
        await applyLayer(dir, this.store.get(l.digest), mode.kind === "overlay-diff" ? { whiteouts: "overlay", overlayXattrPrefix: mode.xattrPrefix } : {});
      }
    }));
    return this.options.snapshotter.prepare(lowers);
  }
  stepError(ctx, e) {
    const message = e instanceof Error ? e.message : String(e);
    this.options.emit({ v: 1, type: "step-error", time: this.now(), step: ctx.ref, message });
    if (e instanceof StepFailedError) return e;
    if (BuildError.is(e) && e.location) return e;
    const code = BuildError.is(e) ? e.code : "E_STEP_FAILED";
    return new StepFailedError("E_STEP_FAILED", `${ctx.ref.name}: ${message}`, ctx.step.location, this.options.dockerfileText, { code }, e);
  }
  now() {
    return (this.options.now ?? Date.now)();
  }
};
function stepName(step) {
  const text = step.text.trim();
  const sp = text.search(/\s/);
  return sp < 0 ? text.toUpperCase() : text.slice(0, sp).toUpperCase() + text.slice(sp);
}
function stepIdentity(project, stage, step) {
  return `${project}|${stage.name ?? stage.index}/${step.index}/${step.kind}`;
}

// packages/builder/src/solve/source-roots.ts
var import_promises38 = require("node:fs/promises");
var import_node_os11 = __toESM(require("node:os"), 1);
var import_node_path29 = __toESM(require("node:path"), 1);
var SourceRoots = class {
  constructor(contextDir, dockerfilePath, namedLocalDirs, statCache) {
    this.contextDir = contextDir;
    this.dockerfilePath = dockerfilePath;
    this.namedLocalDirs = namedLocalDirs;
    this.statCache = statCache;
  }
  contextDir;
  dockerfilePath;
  namedLocalDirs;
  statCache;
  mainContext;
  namedLocal = /* @__PURE__ */ new Map();
  /** The main build context, walked once with its .dockerignore. */
  main() {
    this.mainContext ??= loadContext(this.contextDir, this.dockerfilePath ? { dockerfilePath: this.dockerfilePath } : {});
    return this.mainContext;
  }
  local(name) {
    let p = this.namedLocal.get(name);
    if (!p) {
      p = loadContext(import_node_path29.default.resolve(this.namedLocalDirs.get(name)), { patterns: [] });
      this.namedLocal.set(name, p);
    }
    return p;
  }
  /** A named build context that is a directory on disk (`--build-context NAME=DIR`). */
  isLocal(source) {
    return source.kind === "image" && this.namedLocalDirs.has(source.ref);
  }
  /**
   * Opens a source tree. Stage and image trees are snapshots that `cleanup` releases; the main
   * context is the context directory itself (reads go through the filtered walk, never around it).
   */
  async open(ctx, source, cleanup) {
    switch (source.kind) {
      case "context":
        return { dir: this.contextDir, context: () => this.main(), preserveOwner: false };
      case "scratch": {
        const dir = await (0, import_promises38.mkdtemp)(import_node_path29.default.join(import_node_os11.default.tmpdir(), "build-image-scratch-"));
        cleanup.push(() => (0, import_promises38.rm)(dir, { recursive: true, force: true }));
        return { dir, context: () => loadContext(dir, { patterns: [] }), preserveOwner: true };
      }
      case "image": {
        if (this.namedLocalDirs.has(source.ref)) {
          const dir = import_node_path29.default.resolve(this.namedLocalDirs.get(source.ref));
          return { dir, context: () => this.local(source.ref), preserveOwner: false };
        }
        const img = await ctx.solver.options.images.resolve(source.ref, source.normalizedRef, ctx.stage.platform);
        return this.snapshotRoot(ctx, img.layers, cleanup);
      }
      case "stage": {
        const state = await ctx.solver.sourceStage(source.index);
        return this.snapshotRoot(ctx, state.layers, cleanup);
      }
    }
  }
  async snapshotRoot(ctx, layers, cleanup) {
    const snap = await ctx.solver.prepare(layers);
    cleanup.push(() => snap.release());
    let walked;
    return { dir: snap.mergedDir, context: () => walked ??= loadContext(snap.mergedDir, { patterns: [] }), preserveOwner: true };
  }
  /**
   * What identifies a source's content in a cache key: for the context, the content hash of the
   * selected subtree; for a stage, its final cache key; for an image, its manifest digest.
   */
  async identity(ctx, source, subpath) {
    switch (source.kind) {
      case "scratch":
        return "scratch";
      case "stage":
        return `stage:${(await ctx.solver.sourceStage(source.index)).key}:${subpath}`;
      case "image":
        if (!this.namedLocalDirs.has(source.ref)) {
          const img = await ctx.solver.options.images.resolve(source.ref, source.normalizedRef, ctx.stage.platform);
          return `image:${img.manifestDigest}:${subpath}`;
        }
        return `local:${source.ref}:${await this.contentDigest(await this.local(source.ref), subpath)}`;
      case "context":
        return `context:${await this.contentDigest(await this.main(), subpath)}`;
    }
  }
  async contentDigest(context, subpath) {
    const selection = selectSources(context, { sources: [subpath || "/"], followSymlinks: true });
    const digest = (await hashSelection(selection, { preserveOwner: false, ...this.statCache ? { statCache: this.statCache } : {} })).digest;
    await this.statCache?.save();
    return digest;
  }
  /**
   * A host directory holding `subpath` of the source for a bind mount. For the build context this
   * is a copy of the non-ignored files only, so a `.dockerignore`d secret can never be mounted.
   */
  async materialize(ctx, source, subpath, cleanup) {
    const root = await this.open(ctx, source, cleanup);
    if (source.kind !== "context") {
      const p = await resolveInRoot(root.dir, subpath || "/");
      return p;
    }
    const context = await root.context();
    const selection = selectSources(context, { sources: [subpath || "/"], followSymlinks: true, location: ctx.step.location });
    const out = await (0, import_promises38.mkdtemp)(import_node_path29.default.join(import_node_os11.default.tmpdir(), "build-image-bind-"));
    cleanup.push(() => (0, import_promises38.rm)(out, { recursive: true, force: true }));
    const only = selection.sources[0]?.matches[0];
    if (selection.sources.length === 1 && selection.sources[0].matches.length === 1 && only && only.entries.length === 1 && only.entries[0].entry.type === "file") {
      await copyIntoRoot({ srcRoot: root.dir, src: "/" + only.resolved, destRoot: out, dest: "/file", copyDirContents: true, followSymlinks: true, preserveOwner: false });
      return import_node_path29.default.join(out, "file");
    }
    for (const src of selection.sources) {
      for (const match of src.matches) {
        const keep = new Set(match.entries.map((e) => e.entry.path));
        await copyIntoRoot({
          srcRoot: root.dir,
          src: "/" + match.resolved,
          destRoot: out,
          dest: "/",
          copyDirContents: true,
          followSymlinks: true,
          preserveOwner: false,
          filter: ({ rel }) => ({ include: keep.has(rel), descend: true })
        });
      }
    }
    return out;
  }
};

// packages/builder/src/solve/workdir-step.ts
function workdirStep() {
  return async (ctx) => {
    const wd = ctx.state.config.config?.WorkingDir ?? "/";
    const user = ctx.state.config.config?.User ?? "";
    const parts = [{ type: "op", value: JSON.stringify({ kind: "WORKDIR", path: wd, user }) }];
    return {
      parts,
      createdBy: `WORKDIR ${wd}`,
      buildkitSuffix: false,
      run: async (snapshot) => {
        const owner = user ? await resolveChown(snapshot.mergedDir, user) : { uid: 0, gid: 0 };
        await mkdirAllInRoot(snapshot.mergedDir, wd, 493, owner);
      }
    };
  };
}

// packages/builder/src/solve/setup.ts
async function setupBuild(options, emit, warn, mode) {
  const now = options.now ?? Date.now;
  const contextDir = import_node_path30.default.resolve(options.context);
  const file2 = options.file !== void 0 ? import_node_path30.default.resolve(options.file) : import_node_path30.default.join(contextDir, "Dockerfile");
  const fileLabel = options.file ?? "Dockerfile";
  const text = options.dockerfile ?? await (0, import_promises39.readFile)(file2, "utf8").catch((e) => {
    throw new BuildError("E_DOCKERFILE_NOT_FOUND", `cannot read Dockerfile ${file2}: ${e.code === "ENOENT" ? "no such file" : e.message}`, { cause: e, data: { file: file2 } });
  });
  const cacheDir = import_node_path30.default.resolve(options.cacheDir ?? resolveCacheDir());
  await (0, import_promises39.mkdir)(cacheDir, { recursive: true });
  const store = new ContentStore({ root: cacheDir });
  const index = new CacheIndex(store);
  const registryOptions = {
    auth: new DockerConfigCredentialStore(),
    ...options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {},
    ...options.signal ? { signal: options.signal } : {}
  };
  const registry = new RegistryClient({ ...registryOptions, ...options.registryMirrors ? { mirrors: options.registryMirrors } : {} });
  const named = new Map((options.buildContexts ?? []).map((c) => [c.name, c]));
  const images = new ImageSources(store, registry, named);
  const tree = parseDockerfile(text, { file: fileLabel });
  const graphOptions = {
    file: fileLabel,
    buildArgs: options.buildArgs ?? {},
    buildPlatform: hostPlatformString(),
    ...options.platform ? { platform: options.platform } : {},
    ...options.target ? { target: options.target } : {}
  };
  const imageConfigs = {};
  const probe2 = createBuildGraph(tree, graphOptions);
  await Promise.all(
    listBaseImages(tree, graphOptions).map(async (b) => {
      const stage = probe2.stages.find((s) => s.index === b.stage);
      if (!stage) return;
      const c = (await images.resolve(b.ref, b.normalizedRef, stage.platform)).config.config ?? {};
      imageConfigs[b.ref] = {
        ...c.Env ? { env: c.Env } : {},
        ...c.OnBuild ? { onBuild: c.OnBuild } : {},
        ...c.Shell ? { shell: c.Shell } : {},
        ...c.WorkingDir ? { workingDir: c.WorkingDir } : {},
        ...c.User ? { user: c.User } : {}
      };
    })
  );
  const graph = createBuildGraph(tree, { ...graphOptions, imageConfigs });
  if (!mode.plan) emit({ v: 1, type: "build-start", time: now(), dockerfile: fileLabel, ...options.target ? { target: options.target } : {}, platform: graph.platform.target.string });
  const mountsDir = import_node_path30.default.join(cacheDir, "mounts");
  const mountIds = /* @__PURE__ */ new Set();
  for (const stage of graph.stages) for (const step of stage.steps) for (const m of step.mounts ?? []) if (m.type === "cache") mountIds.add(cacheId(m));
  const cacheMounts = [...mountIds].map((id) => ({ id, dir: cacheMountHostDir(mountsDir, id) }));
  for (const source of options.cacheFrom ?? []) {
    const imported = await importCache({ source, index, store, ...mode.plan ? {} : { mounts: cacheMounts } }, { registry: registryOptions, ...options.signal ? { signal: options.signal } : {} });
    for (const w of imported.warnings) warn(`cache import ${imported.cache}: ${w.message}`);
    if (imported.found) emit({ v: 1, type: "log", time: now(), level: "info", message: `imported ${imported.entries} cache entries from ${imported.cache}` });
  }
  const snapshotter = await createSnapshotter({ root: import_node_path30.default.join(cacheDir, "snapshots"), mode: options.snapshotter ?? "auto" });
  const statCache = await StatCache.load(cacheDir, contextDir).catch(() => void 0);
  const namedLocal = new Map([...named.values()].filter((c) => c.kind === "local").map((c) => [c.name, import_node_path30.default.resolve(c.dir)]));
  const roots = new SourceRoots(contextDir, options.dockerfile === void 0 ? file2 : void 0, namedLocal, statCache);
  const executor = new RuncExecutor({
    stateDir: runtimeStateDir(cacheDir),
    runtime: options.ociRuntime ?? "runc",
    ...options.ulimits?.length ? { rlimits: options.ulimits.map((u) => ({ type: `RLIMIT_${u.name.toUpperCase()}`, soft: u.soft, hard: u.hard })) } : {},
    ...options.shmSize !== void 0 ? { shmSize: options.shmSize } : {}
  });
  const solver = new Solver({
    store,
    index,
    snapshotter,
    images,
    graph,
    dockerfileText: text,
    emit,
    projectId: (0, import_node_crypto23.createHash)("sha256").update(`${contextDir}\0${file2}`).digest("hex").slice(0, 16),
    layerOps: {
      RUN: runStep({
        executor,
        mounts: roots,
        secrets: new Map(Object.entries(options.secrets ?? {})),
        ssh: new Map(Object.entries(options.ssh ?? {})),
        cacheMountsDir: mountsDir,
        allowInsecure: (options.allow ?? []).includes("security.insecure"),
        network: options.network ?? "host",
        extraHosts: options.addHosts ?? [],
        ulimits: options.ulimits ?? [],
        ...options.shmSize !== void 0 ? { shmSize: options.shmSize } : {}
      }),
      COPY: copyStep({ roots }),
      ADD: copyStep({ roots }),
      WORKDIR: workdirStep()
    },
    plan: mode.plan,
    buildArgs: options.buildArgs ?? {},
    ...options.noCache ? { noCache: true } : {},
    ...options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: options.sourceDateEpoch } : {},
    ...options.signal ? { signal: options.signal } : {},
    ...options.now ? { now: options.now } : {}
  });
  return { text, fileLabel, graph, store, index, registry, registryOptions, cacheMounts, solver, executor };
}

// packages/builder/src/solve/build.ts
function buildMetadata(result, names) {
  return {
    "containerimage.config.digest": result.configDigest,
    "containerimage.descriptor": result.descriptor,
    "containerimage.digest": result.digest,
    ...names.length ? { "image.name": names.join(",") } : {},
    "build-image.cache": result.cache
  };
}
async function build(options) {
  const now = options.now ?? Date.now;
  const started = now();
  const misses = [];
  const emit = (e) => {
    if (e.type === "step-done" && e.miss) misses.push({ step: e.step.name, reasons: e.miss });
    options.onProgress?.(e);
  };
  const warnings = [];
  const warn = (message) => {
    warnings.push(message);
    emit({ v: 1, type: "log", time: now(), level: "warn", message });
  };
  const { graph, store, index, registry, registryOptions, cacheMounts, solver, executor } = await setupBuild(options, emit, warn, { plan: false });
  let state;
  try {
    state = await solver.solveTarget();
  } finally {
    executor.close();
  }
  const epoch = options.sourceDateEpoch !== void 0 ? goTime(options.sourceDateEpoch * 1e3) : void 0;
  const config = finalizeConfig(state, graph, options.labels ?? {}, epoch, options.platform !== void 0, state.baseHistoryLength);
  const image = await putImage(store, config, state.layers.map(({ diffId: _d, ...desc }) => desc));
  const outputs = await writeOutputs(image, store, registry, options);
  for (const spec of options.cacheTo ?? []) {
    const entries = solver.entries.map((e) => ({ key: e.key, stepId: e.stepId, stage: e.stage === graph.target ? "target" : "intermediate" }));
    const exported = await exportCache(spec, { entries, index, store, mounts: cacheMounts }, { registry: registryOptions, ...options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: options.sourceDateEpoch } : {} });
    for (const w of exported.warnings) warn(`cache export ${exported.cache}: ${w.message}`);
    for (const k of exported.skipped) warn(`cache export ${exported.cache}: skipped ${k.kind} ${k.id}: ${k.reason}`);
  }
  const size = image.layers.reduce((n, l) => n + l.size, 0) + image.manifest.config.size;
  const result = {
    digest: image.manifestDescriptor.digest,
    configDigest: image.manifest.config.digest,
    descriptor: image.manifestDescriptor,
    config,
    size,
    outputs,
    cache: { ...solver.counts, misses },
    warnings,
    graph
  };
  emit({
    v: 1,
    type: "build-done",
    time: solver.now(),
    durationMs: solver.now() - started,
    steps: solver.counts,
    image: { digest: result.digest, configDigest: result.configDigest, size },
    outputs: outputs.map((o) => `${o.type}:${o.destination}`)
  });
  return result;
}
function finalizeConfig(state, graph, labels, epoch, explicitPlatform, baseHistoryLength) {
  const config = structuredClone(state.config);
  if (explicitPlatform) {
    const target = graph.stages.find((s) => s.index === graph.target).platform;
    const sameOsArch = config.os === target.os && config.architecture === target.architecture;
    config.os = target.os;
    config.architecture = target.architecture;
    if (target.variant || !sameOsArch) {
      if (target.variant) config.variant = target.variant;
      else delete config.variant;
    }
  }
  if (Object.keys(labels).length) config.config = { ...config.config, Labels: { ...config.config?.Labels, ...labels } };
  const history = (config.history ?? []).map((h) => ({ ...h }));
  let created;
  let missing = false;
  for (const h of history) {
    if (h.created) {
      created = h.created;
      if (missing) break;
    } else missing = true;
  }
  missing = false;
  for (const h of history) {
    if (h.created) {
      if (missing) created = h.created;
    } else {
      missing = true;
      if (created) h.created = created;
    }
  }
  if (epoch) {
    for (let i = baseHistoryLength; i < history.length; i++) {
      const h = history[i];
      if (!h.created || Date.parse(h.created) > Date.parse(epoch)) h.created = epoch;
    }
  }
  config.history = history;
  const last = [...history].reverse().find((h) => h.created)?.created;
  config.created = epoch ?? last ?? goTime(0);
  config.rootfs = { type: "layers", diff_ids: state.layers.map((l) => l.diffId) };
  return config;
}
async function writeOutputs(image, store, registry, options) {
  const specs = [...options.outputs ?? []];
  const tags = options.tags ?? [];
  if (options.push) specs.push({ type: "image", names: [], push: true, insecure: false, attrs: {} });
  const results = [];
  for (const spec of specs) {
    switch (spec.type) {
      case "oci":
      case "docker": {
        const names = spec.names.length ? spec.names : tags;
        const dest = spec.dest ?? "-";
        if (!spec.tar) {
          await exportOciLayout(image, store, import_node_path31.default.resolve(dest), { names });
          results.push({ type: spec.type, destination: import_node_path31.default.resolve(dest), digest: image.manifestDescriptor.digest });
          break;
        }
        if (dest !== "-") await (0, import_promises40.mkdir)(import_node_path31.default.dirname(import_node_path31.default.resolve(dest)), { recursive: true });
        const target = dest === "-" ? process.stdout : import_node_path31.default.resolve(dest);
        if (spec.type === "oci") {
          await exportOciTar(image, store, target, { names });
          results.push({ type: "oci", destination: dest, digest: image.manifestDescriptor.digest });
        } else {
          const docker = await exportDockerTar(image, store, target, { names });
          results.push({ type: "docker", destination: dest, digest: docker.manifestDescriptor.digest });
        }
        break;
      }
      case "local": {
        const dest = import_node_path31.default.resolve(spec.dest);
        await exportRootfs(image, store, dest);
        results.push({ type: "local", destination: dest });
        break;
      }
      case "tar": {
        if (spec.dest !== "-") await (0, import_promises40.mkdir)(import_node_path31.default.dirname(import_node_path31.default.resolve(spec.dest)), { recursive: true });
        const dest = spec.dest === "-" ? process.stdout : import_node_path31.default.resolve(spec.dest);
        await exportRootfsTar(image, store, dest, options.sourceDateEpoch !== void 0 ? { sourceDateEpoch: options.sourceDateEpoch } : {});
        results.push({ type: "tar", destination: spec.dest });
        break;
      }
      case "image":
      case "registry": {
        const names = spec.names.length ? spec.names : tags;
        if (!spec.push) {
          results.push({ type: spec.type, destination: names.join(",") || "(untagged)", digest: image.manifestDescriptor.digest });
          break;
        }
        if (!names.length) throw new BuildError("E_OUTPUT", "pushing needs an image name: pass -t NAME or --output type=registry,name=NAME");
        const manifest = await store.getBytes(image.manifestDescriptor.digest);
        const pushed = await registry.pushImage(names, { manifest, mediaType: image.manifestDescriptor.mediaType }, store);
        for (const n of pushed.references) results.push({ type: spec.type, destination: n, digest: pushed.digest });
        break;
      }
    }
  }
  return results;
}

// packages/builder/src/progress/plain.ts
function label(step) {
  return `#${step.id} [${step.stage} ${step.index}/${step.total}] ${step.name}`;
}
function plainRenderer(write) {
  const startedAt = /* @__PURE__ */ new Map();
  const partial = /* @__PURE__ */ new Map();
  return (event) => {
    switch (event.type) {
      case "build-start":
        write(`#0 building ${event.dockerfile}${event.target ? ` (target ${event.target})` : ""} for ${event.platform}
`);
        break;
      case "step-start":
        startedAt.set(event.step.id, event.time);
        write(`${label(event.step)}
`);
        break;
      case "step-cached":
        write(`#${event.step.id} CACHED
`);
        break;
      case "step-output": {
        const t = ((event.time - (startedAt.get(event.step.id) ?? event.time)) / 1e3).toFixed(3);
        const text = (partial.get(event.step.id) ?? "") + event.text;
        const lines = text.split("\n");
        partial.set(event.step.id, lines.pop() ?? "");
        for (const l of lines) write(`#${event.step.id} ${t} ${l}
`);
        break;
      }
      case "step-done": {
        const rest = partial.get(event.step.id);
        if (rest) write(`#${event.step.id} ${rest}
`);
        partial.delete(event.step.id);
        for (const reason of event.miss ?? []) write(`#${event.step.id} cache miss: ${reason}
`);
        write(`#${event.step.id} DONE ${(event.durationMs / 1e3).toFixed(1)}s
`);
        break;
      }
      case "step-error":
        write(`#${event.step.id} ERROR: ${event.message}
`);
        break;
      case "log":
        write(`${event.level === "warn" ? "WARNING: " : ""}${event.message}
`);
        break;
      case "build-done":
        write(`#done ${event.steps.run} run, ${event.steps.cached} cached in ${(event.durationMs / 1e3).toFixed(1)}s
`);
        if (event.image) write(`#done image ${event.image.digest} (config ${event.image.configDigest}, ${event.image.size} bytes)
`);
        for (const o of event.outputs) write(`#done exported ${o}
`);
        break;
    }
  };
}

// packages/builder/src/progress/tty.ts
function humanSize(bytes) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let n = bytes;
  let u = 0;
  while (n >= 1e3 && u < units.length - 1) {
    n /= 1e3;
    u++;
  }
  return u === 0 ? `${n}B` : `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)}${units[u]}`;
}

// packages/builder/src/rootless/userns.ts
var import_node_os12 = require("node:os");
var import_node_child_process13 = require("node:child_process");
var USERNS_ENV_MARKER = "BUILD_IMAGE_IN_USERNS";
var UserNamespaceError = class extends BuildError {
  name = "UserNamespaceError";
  constructor(message, data) {
    super("E_USERNS_UNAVAILABLE", message, { data });
  }
};
var UNSHARE_ARGS = Object.freeze(["--map-root-user", "--map-auto", "--mount", "--propagation", "private"]);
function explainUnshareFailure(stderr, user) {
  if (/no line matching user/i.test(stderr) || /not allowed/i.test(stderr))
    return `User ${user} has no range in /etc/subuid and /etc/subgid (need \u2265 65536): sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}`;
  if (/newuidmap|newgidmap/.test(stderr) && /No such file|not found/i.test(stderr)) return "Install the uidmap package: sudo apt-get install -y uidmap";
  if (/Operation not permitted|Permission denied|No space left/i.test(stderr))
    return "Rootless build needs unprivileged user namespaces. On Ubuntu \u2265 23.10 / GitHub ubuntu-24.04 run `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or run as root.";
  return "Creating the user namespace failed; run `build-image doctor` for a full check.";
}
function runInUserNamespace(entryModule, args, options = {}) {
  return new Promise((resolve5, reject) => {
    const stdio = options.stdio ?? "inherit";
    const child = (0, import_node_child_process13.spawn)("unshare", [...UNSHARE_ARGS, process.execPath, ...options.execArgv ?? process.execArgv, entryModule, ...args], {
      stdio: ["inherit", stdio === "inherit" ? "inherit" : "pipe", "pipe"],
      env: { ...options.env ?? process.env, [USERNS_ENV_MARKER]: "1" },
      // Its own process group: a terminal's Ctrl-C reaches this process only, which forwards it
      // once (two SIGINTs would skip the worker's clean-up).
      detached: true
    });
    const forward = (sig) => () => void child.kill(sig);
    const handlers = ["SIGINT", "SIGTERM", "SIGHUP"].map((sig) => [sig, forward(sig)]);
    for (const [sig, h] of handlers) process.on(sig, h);
    const unforward = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    let stderr = "";
    child.stdout?.on("data", (c) => options.onOutput?.("stdout", c));
    child.stderr?.on("data", (c) => {
      if (stderr.length < 65536) stderr += c.toString();
      if (stdio === "inherit" && !options.onOutput) process.stderr.write(c);
      options.onOutput?.("stderr", c);
    });
    child.on("error", (e) => {
      unforward();
      reject(new UserNamespaceError(`Cannot run unshare: ${e.message}. Install util-linux and uidmap.`, { cause: String(e) }));
    });
    child.on("close", (code, signal) => {
      unforward();
      const own = stderr.split("\n").find((l) => /^unshare: /.test(l));
      if (own && code !== 0) {
        const user = process.env.USER ?? process.env.LOGNAME ?? String(process.getuid?.());
        reject(new UserNamespaceError(`${own.trim()}. ${explainUnshareFailure(own, user)}`, { stderr: own }));
        return;
      }
      resolve5(code ?? 128 + (signal ? import_node_os12.constants.signals[signal] ?? 9 : 0));
    });
  });
}
async function ensureUserNamespace() {
  if (process.env[USERNS_ENV_MARKER] === "1" && runningInUserNamespace()) return { state: "inside" };
  if (process.getuid?.() === 0) return { state: "host" };
  const entry = process.argv[1];
  if (!entry) throw new UserNamespaceError("Cannot re-execute: no entry module in process.argv[1].", {});
  const exitCode = await runInUserNamespace(entry, process.argv.slice(2));
  return { state: "reexec", exitCode };
}

// packages/builder/src/rootless/probe.ts
var import_node_child_process14 = require("node:child_process");
var import_node_util8 = require("node:util");
var run4 = (0, import_node_util8.promisify)(import_node_child_process14.execFile);

// action/src/run.ts
var import_promises41 = require("node:fs/promises");
var import_node_os14 = __toESM(require("node:os"));
var import_node_path32 = __toESM(require("node:path"));

// action/src/commands.ts
var import_node_crypto24 = require("node:crypto");
var import_node_fs25 = require("node:fs");
var import_node_os13 = require("node:os");
function escapeData(s) {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}
function issue(write, kind, message) {
  write(`::${kind}::${escapeData(message)}${import_node_os13.EOL}`);
}
function setOutput(env, write, name, value) {
  const file2 = env.GITHUB_OUTPUT;
  if (!file2) {
    write(`::set-output name=${name}::${escapeData(value)}${import_node_os13.EOL}`);
    return;
  }
  const delimiter = `ghadelimiter_${(0, import_node_crypto24.randomUUID)()}`;
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output ${name} contains the delimiter ${delimiter}`);
  (0, import_node_fs25.appendFileSync)(file2, `${name}<<${delimiter}${import_node_os13.EOL}${value}${import_node_os13.EOL}${delimiter}${import_node_os13.EOL}`, "utf8");
}
function appendSummary(env, markdown) {
  const file2 = env.GITHUB_STEP_SUMMARY;
  if (!file2) return false;
  (0, import_node_fs25.appendFileSync)(file2, markdown, "utf8");
  return true;
}

// action/src/inputs.ts
var InputError = class extends Error {
  name = "InputError";
};
function getInput(env, name) {
  return (env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] ?? "").trim();
}
function getBooleanInput(env, name, fallback = false) {
  const v = getInput(env, name);
  if (v === "") return fallback;
  if (["true", "True", "TRUE"].includes(v)) return true;
  if (["false", "False", "FALSE"].includes(v)) return false;
  throw new InputError(`Input "${name}" is "${v}": use true or false (YAML 1.2 core schema)`);
}
function getList(input, options = {}) {
  if (input === "") return [];
  const records = parse(input, {
    columns: false,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    comment: "#",
    // Only whole-line comments: `COLOR=#fff` stays a value.
    comment_no_infix: true,
    ...options.quote === false ? { quote: false } : {}
  });
  const out = [];
  for (const record of records) {
    if (record.length === 1) out.push(...options.ignoreComma ? [record[0]] : record[0].split(","));
    else if (!options.ignoreComma) out.push(...record);
    else out.push(record.join(","));
  }
  return out.filter((item) => item).map((item) => item.trim()).filter((item) => item);
}
function getInputList(env, name, options = {}) {
  return getList(getInput(env, name), options);
}

// action/src/run.ts
var UNSUPPORTED = {
  annotations: "manifest annotations are not supported yet",
  attests: "attestations are not supported yet",
  call: "build checks (--call) are not supported yet",
  "cgroup-parent": "the rootless executor does not take a cgroup parent",
  "no-cache-filters": "use no-cache: true (per-stage no-cache is not supported yet)"
};
async function secretFile(dir, id, value) {
  const file2 = import_node_path32.default.join(dir, id.replace(/[^A-Za-z0-9_.-]/g, "_"));
  await (0, import_promises41.writeFile)(file2, value, { mode: 384 });
  return file2;
}
function keyValue(item, input) {
  const eq = item.indexOf("=");
  if (eq <= 0) throw new InputError(`Input "${input}": "${item.split("\n")[0]}" is not KEY=VALUE`);
  return [item.slice(0, eq), item.slice(eq + 1)];
}
async function readInputs(env, io) {
  for (const [name, why] of Object.entries(UNSUPPORTED)) {
    if (getInput(env, name) !== "") throw new InputError(`Input "${name}" is not supported by build-image: ${why}. Remove it from the step.`);
  }
  if (getBooleanInput(env, "load")) throw new InputError('Input "load" needs a Docker daemon: use outputs: type=docker,dest=image.tar and `docker load -i image.tar`');
  for (const name of ["provenance", "sbom"]) {
    const v = getInput(env, name);
    if (v !== "" && v !== "false") issue(io.write, "notice", `Input "${name}" (${v}) is ignored: build-image does not produce attestations, so the image stays a single manifest (no index with unknown/unknown entries).`);
  }
  if (getInput(env, "builder") !== "") issue(io.write, "notice", 'Input "builder" is ignored: build-image runs in-process, without a buildx builder.');
  const contextInput = getInput(env, "context") || ".";
  if (/^(https?:\/\/|git@|git:\/\/)/.test(contextInput) || contextInput.includes("{{defaultContext}}")) {
    throw new InputError(`Input "context" is a Git context (${contextInput}), which is not supported yet: check the repository out with actions/checkout and use a path (context: .)`);
  }
  const context = import_node_path32.default.resolve(io.cwd, contextInput);
  const file2 = getInput(env, "file");
  const platforms2 = getInputList(env, "platforms");
  if (platforms2.length > 1) {
    throw new InputError(
      `Input "platforms" lists ${platforms2.length} platforms (${platforms2.join(", ")}); build-image builds one platform per run. Use a matrix with one platform per job (on native runners, e.g. ubuntu-24.04-arm for linux/arm64).`
    );
  }
  const buildArgs = {};
  for (const item of getInputList(env, "build-args", { ignoreComma: true })) {
    const eq = item.indexOf("=");
    if (eq < 0) {
      if (env[item] !== void 0) buildArgs[item] = env[item];
    } else buildArgs[item.slice(0, eq)] = item.slice(eq + 1);
  }
  const labels = Object.fromEntries(getInputList(env, "labels", { ignoreComma: true }).map((l) => keyValue(l, "labels")));
  const secretsDir = await (0, import_promises41.mkdtemp)(import_node_path32.default.join(env.RUNNER_TEMP || import_node_os14.default.tmpdir(), "build-image-secrets-"));
  const cleanup = () => (0, import_promises41.rm)(secretsDir, { recursive: true, force: true });
  const secrets = {};
  try {
    for (const item of getInputList(env, "secrets", { ignoreComma: true })) {
      const [id, value] = keyValue(item, "secrets");
      secrets[id] = { file: await secretFile(secretsDir, id, value) };
    }
    for (const item of getInputList(env, "secret-files", { ignoreComma: true })) {
      const [id, file3] = keyValue(item, "secret-files");
      secrets[id] = { file: import_node_path32.default.resolve(io.cwd, file3) };
    }
    for (const item of getInputList(env, "secret-envs")) {
      const [id, name] = keyValue(item, "secret-envs");
      secrets[id] = { env: name };
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  const ssh = {};
  for (const s of getInputList(env, "ssh").map(parseSshSpec)) {
    const socket = s.paths[0] ?? (s.id === "default" ? env.SSH_AUTH_SOCK : void 0);
    if (!socket) throw new InputError(`Input "ssh": ${s.id} has no socket and SSH_AUTH_SOCK is not set (use webfactory/ssh-agent or give ID=PATH)`);
    ssh[s.id] = socket;
  }
  const network = getInput(env, "network");
  if (network !== "" && !["host", "none", "default"].includes(network)) throw new InputError(`Input "network" is "${network}": use host, none or default`);
  const target = getInput(env, "target");
  const shmSize = getInput(env, "shm-size");
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== void 0 && epoch !== "" && !/^[0-9]+$/.test(epoch)) throw new InputError(`SOURCE_DATE_EPOCH "${epoch}" is not a number of seconds`);
  const options = {
    context,
    ...file2 ? { file: import_node_path32.default.resolve(io.cwd, file2) } : {},
    tags: getInputList(env, "tags"),
    buildArgs,
    labels,
    ...target ? { target } : {},
    ...platforms2[0] ? { platform: platforms2[0] } : {},
    outputs: getInputList(env, "outputs", { ignoreComma: true, quote: false }).map(parseOutputSpec),
    push: getBooleanInput(env, "push"),
    noCache: getBooleanInput(env, "no-cache"),
    buildContexts: getInputList(env, "build-contexts", { ignoreComma: true }).map(parseBuildContextSpec),
    cacheFrom: getInputList(env, "cache-from", { ignoreComma: true }).map((v) => parseCacheImportSpec(v, env)),
    cacheTo: getInputList(env, "cache-to", { ignoreComma: true }).map((v) => parseCacheExportSpec(v, env)),
    secrets,
    ssh,
    allow: getInputList(env, "allow"),
    ...network === "host" || network === "none" ? { network } : {},
    addHosts: getInputList(env, "add-hosts").map(parseAddHostSpec),
    ulimits: getInputList(env, "ulimit", { ignoreComma: true }).map(parseUlimitSpec),
    ...shmSize ? { shmSize: parseByteSize(shmSize, 'Input "shm-size"') } : {},
    ...epoch ? { sourceDateEpoch: Number(epoch) } : {}
  };
  return { options, cleanup };
}
function mdEscape(s) {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ").replace(/`/g, "'");
}
function summaryMarkdown(result, options, durationMs) {
  const tags = options.tags ?? [];
  const lines = [
    `### build-image${tags.length ? `: \`${mdEscape(tags.join(", "))}\`` : ""}`,
    "",
    "| | |",
    "|---|---|",
    `| Digest | \`${result.digest}\` |`,
    `| Image ID (config) | \`${result.configDigest}\` |`,
    `| Platform | ${result.config.os}/${result.config.architecture}${result.config.variant ? `/${result.config.variant}` : ""} |`,
    `| Size | ${humanSize(result.size)} (${result.config.rootfs?.diff_ids?.length ?? 0} layers) |`,
    `| Steps | ${result.cache.run} run, ${result.cache.cached} cached |`,
    `| Duration | ${(durationMs / 1e3).toFixed(1)}s |`,
    ...result.outputs.map((o) => `| Output | ${o.type}: \`${mdEscape(o.destination)}\`${o.digest ? ` (\`${o.digest}\`)` : ""} |`),
    ""
  ];
  if (result.cache.misses.length) {
    lines.push("#### Cache misses", "", "| Step | Why it ran |", "|---|---|");
    for (const m of result.cache.misses) lines.push(`| \`${mdEscape(m.step)}\` | ${m.reasons.map(mdEscape).join("<br>")} |`);
    lines.push("");
  } else {
    lines.push(result.cache.run === 0 ? "Every step came from the cache." : "", "");
  }
  const warnings = result.warnings ?? [];
  if (warnings.length) lines.push("#### Warnings", "", ...warnings.map((w) => `- ${mdEscape(w)}`), "");
  return lines.join("\n") + "\n";
}
async function runAction(env, io) {
  const started = Date.now();
  let cleanup = async () => void 0;
  try {
    const inputs = await readInputs(env, io);
    cleanup = inputs.cleanup;
    const plain = plainRenderer(io.write);
    const onProgress = (e) => {
      plain(e);
      if (e.type === "log" && e.level === "warn") issue(io.write, "warning", e.message);
    };
    const result = await build({ ...inputs.options, onProgress });
    const tags = inputs.options.tags ?? [];
    setOutput(env, io.write, "imageid", result.configDigest);
    setOutput(env, io.write, "digest", result.digest);
    setOutput(env, io.write, "metadata", JSON.stringify(buildMetadata(result, tags), null, 2));
    setOutput(env, io.write, "cache-report", JSON.stringify(result.cache));
    if (!/^(false|0)$/i.test(env.DOCKER_BUILD_SUMMARY ?? "true")) appendSummary(env, summaryMarkdown(result, inputs.options, Date.now() - started));
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    issue(io.write, "error", message);
    if (!/^(false|0)$/i.test(env.DOCKER_BUILD_SUMMARY ?? "true")) appendSummary(env, `### build-image failed

\`\`\`
${message}
\`\`\`
`);
    return 1;
  } finally {
    await cleanup();
  }
}

// action/src/main.ts
async function main() {
  const ns = await ensureUserNamespace();
  if (ns.state === "reexec") return ns.exitCode;
  return runAction(process.env, { write: (t) => void process.stdout.write(t), cwd: process.env.GITHUB_WORKSPACE || process.cwd() });
}
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stdout.write(`::error::${String(e instanceof Error ? e.message : e).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A")}
`);
    process.exitCode = 1;
  }
);
