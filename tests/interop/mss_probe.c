/* mss_probe: p2plab's multistream-select against a real peer over TCP.
 *
 *   mss_probe dial PORT PROTO   connect to 127.0.0.1:PORT, negotiate PROTO
 *   mss_probe listen PROTO      listen on 127.0.0.1 (port printed on the
 *                               first line), accept one connection and
 *                               negotiate, accepting only PROTO
 *
 * Prints {"event":"selected","protocol":...} or {"event":"error",...} and
 * exits 0 when PROTO was selected. Plain blocking sockets with a timeout:
 * this is a test program, not the core. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "p2p/mss.h"

static int negotiate(int fd, p2p_mss *m) {
  uint8_t buf[4096];
  while (p2p_mss_state(m) == P2P_MSS_NEGOTIATING) {
    ssize_t n;
    while ((n = p2p_mss_send(m, buf, sizeof buf)) > 0)
      if (write(fd, buf, (size_t)n) != n)
        return -1;
    n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (p2p_mss_recv_eof(m) < 0) {
        /* the state and error say what happened */
      }
      break;
    }
    for (size_t off = 0;
         off < (size_t)n && p2p_mss_state(m) == P2P_MSS_NEGOTIATING;) {
      ssize_t used = p2p_mss_recv(m, buf + off, (size_t)n - off);
      if (used < 0)
        break;
      off += (size_t)used;
      uint8_t out[4096];
      ssize_t w;
      while ((w = p2p_mss_send(m, out, sizeof out)) > 0)
        if (write(fd, out, (size_t)w) != w)
          return -1;
      if (used == 0)
        break;
    }
  }
  /* Flush the final answer (a listener's echo). */
  ssize_t n;
  while ((n = p2p_mss_send(m, buf, sizeof buf)) > 0)
    if (write(fd, buf, (size_t)n) != n)
      return -1;
  return 0;
}

static int report(p2p_mss *m, const char *want) {
  const char *sel = p2p_mss_selected(m);
  if (sel != NULL && strcmp(sel, want) == 0) {
    printf("{\"event\":\"selected\",\"protocol\":\"%s\"}\n", sel);
    return 0;
  }
  printf("{\"event\":\"error\",\"reason\":\"%s (state %d)\"}\n",
         p2p_strerror(p2p_mss_error(m)), p2p_mss_state(m));
  return 1;
}

static void timeouts(int fd) {
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int main(int argc, char **argv) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char *proto;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  p2p_mss *m = NULL;
  if (fd < 0)
    return 3;
  if (argc == 4 && strcmp(argv[1], "dial") == 0) {
    proto = argv[3];
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    timeouts(fd);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      printf("{\"event\":\"error\",\"reason\":\"connect failed\"}\n");
      return 1;
    }
    const char *protos[] = {proto};
    if (p2p_mss_dialer_new(&m, protos, 1) < 0)
      return 3;
  } else if (argc == 3 && strcmp(argv[1], "listen") == 0) {
    proto = argv[2];
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1) ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
      return 3;
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    int c = accept(fd, NULL, NULL);
    if (c < 0)
      return 3;
    close(fd);
    fd = c;
    timeouts(fd);
    const char *protos[] = {proto};
    if (p2p_mss_listener_new(&m, protos, 1, NULL, NULL) < 0)
      return 3;
  } else {
    fprintf(stderr, "usage: mss_probe dial PORT PROTO | listen PROTO\n");
    return 2;
  }
  int rc = negotiate(fd, m) < 0 ? 1 : report(m, proto);
  p2p_mss_del(m);
  close(fd);
  return rc;
}
