/*
 * sim/metrics/plot.c - the run's graphs, drawn by gnuplot.
 *
 * Each graph is one table entry: a function that pulls its values out of
 * the events, and the labels. For each graph with data, NAME.dat (the
 * data) and NAME.gp (a gnuplot script that reads it) are written into the
 * run's folder and kept, so that users can restyle a graph and redraw it
 * with `gnuplot NAME.gp` there; then gnuplot draws NAME.png.
 */
#include "sim/util/errbuf.h"
#include "sim/metrics/summary.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERR_TAIL 400 /* bytes of gnuplot's stderr kept for the message */

typedef enum graph_kind {
  GRAPH_CDF /* sorted values against their cumulative fraction */
} graph_kind;

typedef struct graph {
  const char *name; /* NAME.png, NAME.gp */
  const char *data; /* DATA.dat */
  graph_kind kind;
  const char *title, *xlabel, *ylabel;
  /* The values, malloc'd (NULL when none); 0 or P2P_ERR_NOMEM. */
  int (*collect)(const sim_evlog *events, double **v, size_t *n);
} graph;

static const graph graphs[] = {
    {"time_to_direct_cdf", "time_to_direct", GRAPH_CDF,
     "Hole punch: time to direct connection (CDF)",
     "time to direct connection (ms)", "fraction of successful hole punches",
     sim_summary_time_to_direct},
    {"gossip_latency_cdf", "gossip_latency", GRAPH_CDF,
     "GossipSub: delivery latency (CDF)", "publish to delivery (ms)",
     "fraction of deliveries", sim_summary_gossip_latency},
};

/* dir/name.ext, malloc'd. */
static char *join(const char *dir, const char *name, const char *ext) {
  size_t len = strlen(dir) + 1 + strlen(name) + strlen(ext) + 1;
  char *p = malloc(len);
  if (p != NULL)
    snprintf(p, len, "%s/%s%s", dir, name, ext);
  return p;
}

static int write_data(const graph *g, const double *v, size_t n,
                      const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return P2P_ERR_IO;
  fprintf(f, "# %s\n# %s\t%s\n", g->title, g->xlabel, g->ylabel);
  /* A CDF starts at (0, 0), so the first step is drawn from the axis. */
  fprintf(f, "0\t0\n");
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%.17g\t%.17g\n", v[i], (double)(i + 1) / (double)n);
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0)
    bad = true;
  return bad ? P2P_ERR_IO : 0;
}

static int write_script(const graph *g, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return P2P_ERR_IO;
  fprintf(f,
          "# Drawn by p2plab from %s.dat; edit and redraw here with\n"
          "#   gnuplot %s.gp\n"
          "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
          "  set terminal pngcairo size 800,500\n"
          "} else {\n"
          "  set terminal png size 800,500\n"
          "}\n"
          "set output \"%s.png\"\n"
          "set title \"%s\"\n"
          "set xlabel \"%s\"\n"
          "set ylabel \"%s\"\n"
          "set xrange [0:*]\n"
          "set yrange [0:1.05]\n"
          "set grid\n"
          "set key off\n",
          g->data, g->name, g->name, g->title, g->xlabel, g->ylabel);
  switch (g->kind) {
  case GRAPH_CDF:
    /* Points as well as steps, so that a single value still shows. */
    fprintf(f,
            "plot \"%s.dat\" using 1:2 with steps linewidth 2 "
            "linecolor rgb \"#1f77b4\", \\\n"
            "     \"\" every ::1 using 1:2 with points pointtype 7 "
            "pointsize 0.6 "
            "linecolor rgb \"#1f77b4\"\n",
            g->data);
    break;
  }
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0)
    bad = true;
  return bad ? P2P_ERR_IO : 0;
}

/* The first executable `name` on PATH, malloc'd, or NULL. */
static char *find_on_path(const char *name) {
  const char *path = getenv("PATH");
  if (path == NULL || path[0] == '\0')
    path = "/usr/local/bin:/usr/bin:/bin";
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, ':');
    size_t len = end == NULL ? strlen(p) : (size_t)(end - p);
    const char *d = len == 0 ? "." : p; /* an empty entry is "." */
    size_t dlen = len == 0 ? 1 : len;
    size_t full = dlen + 1 + strlen(name) + 1;
    char *cand = malloc(full);
    if (cand == NULL)
      return NULL;
    snprintf(cand, full, "%.*s/%s", (int)dlen, d, name);
    struct stat st;
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
      return cand;
    free(cand);
    if (end == NULL)
      return NULL;
    p = end + 1;
  }
}

/* Runs `gnuplot script` in dir; its stderr's tail goes into err. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *script,
                       char *err, size_t errlen) {
  int pfd[2];
  if (pipe(pfd) != 0) {
    sim_errf(err, errlen, "pipe: %s", strerror(errno));
    return P2P_ERR_IO;
  }
  pid_t pid = fork();
  if (pid < 0) {
    sim_errf(err, errlen, "fork: %s", strerror(errno));
    close(pfd[0]);
    close(pfd[1]);
    return P2P_ERR_IO;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
    }
    dup2(pfd[1], STDERR_FILENO);
    close(pfd[0]);
    close(pfd[1]);
    if (chdir(dir) != 0) {
      dprintf(STDERR_FILENO, "cannot enter %s: %s\n", dir, strerror(errno));
      _exit(126);
    }
    char *const argv[] = {(char *)"gnuplot", (char *)script, NULL};
    execv(gnuplot, argv);
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", gnuplot, strerror(errno));
    _exit(127);
  }
  close(pfd[1]);
  /* Keep the last ERR_TAIL bytes of stderr in a ring. */
  char ring[ERR_TAIL];
  size_t total = 0;
  char buf[512];
  for (;;) {
    ssize_t r = read(pfd[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    for (ssize_t i = 0; i < r; i++)
      ring[total++ % ERR_TAIL] = buf[i];
  }
  close(pfd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      sim_errf(err, errlen, "waitpid: %s", strerror(errno));
      return P2P_ERR_IO;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  char tail[ERR_TAIL + 1];
  size_t n = total < ERR_TAIL ? total : ERR_TAIL;
  for (size_t i = 0; i < n; i++)
    tail[i] = ring[(total - n + i) % ERR_TAIL];
  while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
    n--;
  tail[n] = '\0';
  if (WIFEXITED(status))
    sim_errf(err, errlen, "gnuplot %s/%s exited with status %d: %s", dir,
             script, WEXITSTATUS(status), tail);
  else
    sim_errf(err, errlen, "gnuplot %s/%s was killed by signal %d: %s", dir,
             script, WIFSIGNALED(status) ? WTERMSIG(status) : 0, tail);
  return P2P_ERR_IO;
}

int sim_gnuplot(const char *dir, const char *script, char *err, size_t errlen) {
  char *gnuplot = find_on_path("gnuplot");
  if (gnuplot == NULL) {
    sim_errf(err, errlen,
             "gnuplot not found on PATH (install it to draw %s/%s; its data "
             "and script are written)",
             dir, script);
    return P2P_ERR_NOTFOUND;
  }
  int rc = run_gnuplot(gnuplot, dir, script, err, errlen);
  free(gnuplot);
  return rc;
}

/* Writes and draws one graph; returns 1 (drawn), 0 (no data) or an error. */
static int draw(const graph *g, const sim_evlog *events, const char *dir,
                char *err, size_t errlen) {
  double *v = NULL;
  size_t n = 0;
  int rc = g->collect(events, &v, &n);
  if (rc != 0) {
    sim_errf(err, errlen, "out of memory");
    return rc;
  }
  if (n == 0)
    return 0;
  char *dat = join(dir, g->data, ".dat");
  char *gp = join(dir, g->name, ".gp");
  char *png = join(dir, g->name, ".png");
  char script[128];
  snprintf(script, sizeof script, "%s.gp", g->name);
  if (dat == NULL || gp == NULL || png == NULL) {
    sim_errf(err, errlen, "out of memory");
    rc = P2P_ERR_NOMEM;
    goto done;
  }
  const char *failed = write_data(g, v, n, dat) != 0 ? dat
                       : write_script(g, gp) != 0    ? gp
                                                     : NULL;
  if (failed != NULL) {
    sim_errf(err, errlen, "cannot write %s: %s", failed, strerror(errno));
    rc = P2P_ERR_IO;
    goto done;
  }
  rc = sim_gnuplot(dir, script, err, errlen);
  if (rc == 0) {
    struct stat st;
    if (stat(png, &st) != 0 || st.st_size == 0) {
      sim_errf(err, errlen, "gnuplot did not write %s", png);
      rc = P2P_ERR_IO;
    } else {
      rc = 1;
    }
  }
done:
  free(v);
  free(dat);
  free(gp);
  free(png);
  return rc;
}

int sim_plot_run(const sim_evlog *events, const char *dir, char *err,
                 size_t errlen) {
  if (events == NULL || dir == NULL) {
    sim_errf(err, errlen, "no events or no folder");
    return P2P_ERR_INVALID;
  }
  int drawn = 0;
  for (size_t i = 0; i < sizeof graphs / sizeof graphs[0]; i++) {
    int rc = draw(&graphs[i], events, dir, err, errlen);
    if (rc < 0)
      return rc;
    drawn += rc;
  }
  return drawn;
}
