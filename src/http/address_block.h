/*
 * src/http/address_block.h — client addresses whose connections keep
 * abusing the server are refused new connections for a while.
 *
 * The HTTP/2 reset guard (http2_reset_guard.h) closes a connection that
 * resets streams too fast, but a client that reconnects at once gets a new
 * connection with a fresh budget: a few attacking processes made the server
 * close over a thousand connections a second, each after 200 resets of work.
 * So every such close is a strike against the client's address, and an
 * address with ADDRESS_BLOCK_STRIKES strikes in a window of
 * ADDRESS_BLOCK_WINDOW_MS (from its first strike) is blocked for
 * `block_ms` (http.http2_reset_block): connections_accept() closes every
 * new connection from it right after accept(), before TLS or HTTP, which
 * costs the server an accept and a close. A strike while blocked (from a
 * connection accepted before) does not extend the block; the first strike
 * after it, while the window lasts, blocks again at once.
 *
 * Addresses are keyed as the login limiter keys them (struct login_address:
 * IPv4, or an IPv6 /64). Behind a reverse proxy every client has the proxy's
 * address: there the block would refuse everyone, so set
 * http.http2_reset_block to 0 (off) and limit at the proxy.
 *
 * Memory is fixed: at most ADDRESS_BLOCK_CAPACITY addresses are tracked.
 * Entries whose window and block have ended are dropped; when the table is
 * still full a new address replaces an entry that is not blocked (the one
 * whose window ends first), and a blocked one only when all are blocked. With no address tracked (every
 * normal day) a check is one atomic load; otherwise a scan of the tracked
 * entries under one mutex. Any thread may call any function.
 *
 *     address_block_configure(30000);        // once, before the loops start
 *     // when the reset guard closes a connection:
 *     if (address_block_strike(&address, now_ms) == 1)  -> log "blocked"
 *     // on accept:
 *     if (address_block_tracking() && address_block_refuses(&address, now_ms))
 *         -> close the socket
 */
#ifndef CAIRN_SRC_HTTP_ADDRESS_BLOCK_H
#define CAIRN_SRC_HTTP_ADDRESS_BLOCK_H

#include <stdint.h>

#include "src/auth/login_limiter.h"

/* Strikes in one window that block an address, and the window. */
#define ADDRESS_BLOCK_STRIKES 3
#define ADDRESS_BLOCK_WINDOW_MS 60000u
/* Addresses tracked at most (fixed memory). */
#define ADDRESS_BLOCK_CAPACITY 256

/* How long a block lasts; 0 turns blocking off (strikes are not counted).
 * Also forgets every tracked address. */
void address_block_configure(uint64_t block_ms);

/* Counts a strike against `address` at `now_ms` (monotonic milliseconds):
 * 1 when this strike blocked it, 0 otherwise (already blocked, not yet
 * enough strikes, or blocking is off). An unknown address (all zero) is
 * never blocked. */
int address_block_strike(const struct login_address *address, uint64_t now_ms);

/* Whether any address is tracked: one atomic load, so that a caller looks
 * up a peer's address only when it may be refused. */
int address_block_tracking(void);

/* Whether a new connection from `address` is refused at `now_ms`. */
int address_block_refuses(const struct login_address *address, uint64_t now_ms);

/* Milliseconds of monotonic time, the clock the server passes. */
uint64_t address_block_now_ms(void);

#endif
