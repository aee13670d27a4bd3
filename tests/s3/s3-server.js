#!/usr/bin/env node
// S3-compatible server for cairn's tests: @20minutes/s3rver (which checks
// AWS Signature V4 on every request and on presigned URLs) with the
// credentials, address, data directory and buckets given on the command line.
//
//   node tests/s3/s3-server.js --host 127.0.0.1 --port 0 --directory /tmp/s3 \
//       --access-key KEY --secret-key SECRET --bucket cairn-test [--bucket other]
//
// --port 0 picks a free port. Addressing is path-style only:
// http://127.0.0.1:<port>/<bucket>/<key>. The buckets are created if missing;
// objects already in --directory are kept, so a restart on the same directory
// serves the same data. When it is ready it prints exactly one line,
// "listening <port>", on stdout; everything else goes to stderr. SIGTERM or
// SIGINT stops it with exit status 0, and so does the end of the process
// that started it (unless --outlive-parent). Needs Node >= 20 and its node
// modules (tests/s3/install; see README.md).
'use strict';

const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');

function fail(message) {
  process.stderr.write(`s3-server: ${message}\n`);
  process.exit(2);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      directory: { type: 'string' },
      'access-key': { type: 'string' },
      'secret-key': { type: 'string' },
      bucket: { type: 'string', multiple: true, default: [] },
      'outlive-parent': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail(error.message);
}

const port = Number(options.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`--port must be 0..65535, not "${options.port}"`);
}
for (const name of ['directory', 'access-key', 'secret-key']) {
  if (!options[name]) fail(`--${name} is required`);
}
const buckets = options.bucket
  .flatMap((value) => value.split(','))
  .map((value) => value.trim())
  .filter((value) => value.length > 0);
if (buckets.length === 0) fail('at least one --bucket is required');

let S3rver, AWSAccount, S3Error;
try {
  S3rver = require('@20minutes/s3rver');
  // s3rver keeps its only account in a module-level registry, with the
  // hard-coded key pair S3RVER/S3RVER. Replace that pair with ours.
  AWSAccount = require('@20minutes/s3rver/lib/models/account');
  S3Error = require('@20minutes/s3rver/lib/models/error');
} catch (error) {
  fail(
    `${error.message}\n(install the node modules: npm ci --prefix tests/s3 --no-audit --no-fund)`,
  );
}
applyFixes();
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(
  options['access-key'],
  options['secret-key'],
);

fs.mkdirSync(options.directory, { recursive: true });

const server = new S3rver({
  address: options.host,
  port,
  directory: options.directory,
  silent: true,
  vhostBuckets: false, // path-style only: the first path segment is the bucket
  allowMismatchedSignatures: false,
  resetOnClose: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

// 4. s3rver serves anonymous requests (no Authorization header, no signed
// query) as if the bucket were public, reads and writes alike. A private S3
// bucket refuses them, and so does this server, so that an unsigned request
// or URL from cairn fails the test instead of passing unnoticed.
server.middleware.unshift(async (context, next) => {
  const query = context.query;
  if (
    !context.get('authorization') &&
    !('X-Amz-Signature' in query) &&
    !('Signature' in query)
  ) {
    throw new S3Error('AccessDenied', 'Access Denied');
  }
  await next();
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (!server.httpServer) process.exit(0);
  server.httpServer.close(() => process.exit(0));
  // Idle keep-alive connections would hold close() open.
  server.httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// A test that crashes leaves no server behind: when the process that started
// this one goes away, this one stops too (unless --outlive-parent).
if (!options['outlive-parent']) {
  // process.ppid is read once at start-up; /proc has the live value.
  const currentParent = () => {
    try {
      const stat = fs.readFileSync('/proc/self/stat', 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return process.ppid;
    }
  };
  const parent = currentParent();
  setInterval(() => {
    if (currentParent() !== parent) stop();
  }, 500).unref();
}

server.run().then(
  (address) => {
    process.stdout.write(`listening ${address.port}\n`);
  },
  (error) => {
    process.stderr.write(`s3-server: cannot start: ${error.message}\n`);
    process.exit(1);
  },
);

// Where s3rver 4.0.4 differs from S3 in ways cairn's tests would trip on, it
// is corrected here, before the server is built.
function applyFixes() {
  const crypto = require('crypto');
  const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');
  const S3Object = require('@20minutes/s3rver/lib/models/object');
  // s3rver's walk throws when a DeleteObject removes a file or an emptied
  // directory while a listing reads it (500 InternalError); S3 lists what
  // is there.
  const walk = function* (directory, recurseFilter) {
    let names;
    try {
      names = fs.readdirSync(directory);
    } catch (error) {
      if (error.code === 'ENOENT') return;
      throw error;
    }
    for (const name of names) {
      const filePath = path.posix.join(directory, name);
      let stats;
      try {
        stats = fs.statSync(filePath);
      } catch (error) {
        if (error.code === 'ENOENT') continue;
        throw error;
      }
      if (!stats.isDirectory()) yield filePath;
      else if (!recurseFilter || recurseFilter(filePath)) yield* walk(filePath, recurseFilter);
    }
  };

  // 1. ListObjectsV2 continuation tokens are encrypted with single DES,
  // which OpenSSL 3 only has in its legacy provider: every truncated listing
  // answered 500 InternalError. The token is opaque to clients, so it is
  // carried in clear (identity "cipher") instead.
  const createCipheriv = crypto.createCipheriv;
  const createDecipheriv = crypto.createDecipheriv;
  const identity = {
    update: (data, encoding) =>
      Buffer.isBuffer(data) ? data : Buffer.from(data, encoding),
    final: () => Buffer.alloc(0),
  };
  crypto.createCipheriv = (algorithm, ...rest) =>
    algorithm === 'des' ? identity : createCipheriv(algorithm, ...rest);
  crypto.createDecipheriv = (algorithm, ...rest) =>
    algorithm === 'des' ? identity : createDecipheriv(algorithm, ...rest);

  // 2. CopyObject of an object onto itself (x-amz-metadata-directive:
  // REPLACE) rewrote only the metadata; S3 sets LastModified to now.
  const copyObject = FilesystemStore.prototype.copyObject;
  FilesystemStore.prototype.copyObject = async function (
    sourceBucket,
    sourceKey,
    destinationBucket,
    destinationKey,
    replacementMetadata,
  ) {
    const source = this.getResourcePath(sourceBucket, sourceKey, 'object');
    const destination = this.getResourcePath(
      destinationBucket,
      destinationKey,
      'object',
    );
    if (source === destination) {
      const now = new Date();
      await fs.promises.utimes(source, now, now);
    }
    return copyObject.call(
      this,
      sourceBucket,
      sourceKey,
      destinationBucket,
      destinationKey,
      replacementMetadata,
    );
  };

  // 2b. DeleteObject removed the emptied parent directories with an
  // asynchronous recursive rm, which races a PUT into the same parent (a
  // concurrent PUT answered 200 could vanish): S3 has no directories, so
  // only a non-recursive rmdir of directories that are empty now.
  FilesystemStore.prototype.deleteObject = async function (bucket, key) {
    for (const kind of ['object', 'object.md5', 'metadata.json']) {
      await fs.promises.unlink(this.getResourcePath(bucket, key, kind)).catch((error) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    const bucketPath = this.getBucketPath(bucket);
    const parts = key.split('/');
    parts.pop();
    while (parts.length) {
      try {
        await fs.promises.rmdir(path.join(bucketPath, ...parts));
      } catch (error) {
        break; // not empty (or already gone): S3 would not care
      }
      parts.pop();
    }
  };

  // 3. Listings walked the directory tree, so keys came in directory order
  // ("a/b" before "a-b") rather than S3's UTF-8 byte order, and paging
  // (which skips keys <= the last one returned) could lose keys. Same
  // results as s3rver's, but over all matching keys sorted by bytes.
  const objectSuffix = '._S3rver_object';
  const compare = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  FilesystemStore.prototype.listObjects = async function (bucket, options) {
    const {
      delimiter = '',
      startAfter = '',
      prefix = '',
      maxKeys = Infinity,
    } = options;
    const bucketPath = this.getBucketPath(bucket);
    const prefixPath = `${bucketPath}/${prefix}`;
    const all = [];
    for (const filePath of walk(
      bucketPath,
      (directory) =>
        directory.startsWith(prefixPath) ||
        prefixPath.startsWith(`${directory}/`),
    )) {
      if (!filePath.endsWith(objectSuffix)) continue;
      const key = filePath.slice(
        bucketPath.length + 1,
        -objectSuffix.length,
      );
      if (key.startsWith(prefix)) all.push(key);
    }
    all.sort(compare);

    const commonPrefixes = new Set();
    const keys = [];
    let isTruncated = false;
    for (const key of all) {
      if (startAfter && compare(key, startAfter) <= 0) continue;
      if (delimiter) {
        const index = key.slice(prefix.length).indexOf(delimiter);
        if (index !== -1) {
          commonPrefixes.add(key.slice(0, prefix.length + index + 1));
          continue;
        }
      }
      if (keys.length < maxKeys) {
        keys.push(key);
      } else {
        isTruncated = true;
        break;
      }
    }
    const metadatas = await Promise.all(
      keys.map((key) =>
        this.getMetadata(bucket, key).catch((error) => {
          if (error.code === 'ENOENT') return undefined; // deleted meanwhile
          throw error;
        }),
      ),
    );
    const objects = keys
      .map((key, index) => [key, metadatas[index]])
      .filter(([, metadata]) => metadata !== undefined)
      .map(([key, metadata]) => new S3Object(bucket, key, null, metadata));
    return {
      objects,
      commonPrefixes: [...commonPrefixes].sort(),
      isTruncated,
    };
  };
}
