// weft's SO_ORIGINAL_DST addon: the destination a connection had before iptables REDIRECTed it to
// the proxy, read with getsockopt on the accepted socket's fd. Node exposes no such call.
// Built by scripts/build-native.mjs (npm's install step); loaded by sidecar/capture/original-dst.ts.
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; defined here so the
// build needs only libc headers.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

// Throws a JS Error whose .code is the errno name (ENOENT, EBADF, ...) and whose message says
// which call failed.
static napi_value throw_errno(napi_env env, const char *call, int err) {
  char code[32];
  const char *name = "EUNKNOWN";
  switch (err) {
    case ENOENT: name = "ENOENT"; break;
    case EBADF: name = "EBADF"; break;
    case ENOTSOCK: name = "ENOTSOCK"; break;
    case ENOPROTOOPT: name = "ENOPROTOOPT"; break;
    case EINVAL: name = "EINVAL"; break;
    case EPERM: name = "EPERM"; break;
    default: break;
  }
  snprintf(code, sizeof code, "%s", name);
  char message[160];
  snprintf(message, sizeof message, "%s: %s (%s)", call, strerror(err), code);
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value make_result(napi_env env, const char *address, int port, int family) {
  napi_value result, value;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &value) != napi_ok) return NULL;
  napi_set_named_property(env, result, "address", value);
  napi_create_int32(env, port, &value);
  napi_set_named_property(env, result, "port", value);
  napi_create_int32(env, family, &value);
  napi_set_named_property(env, result, "family", value);
  return result;
}

// originalDestination(fd: number): { address: string, port: number, family: 4 | 6 }
static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "originalDestination(fd): fd must be a non-negative integer");
    return NULL;
  }

  // The socket's own family decides the option: an IPv4 connection accepted on a dual-stack
  // IPv6 socket (a v4-mapped local address) is tracked by the IPv4 conntrack.
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return throw_errno(env, "getsockname", errno);

  int v4 = local.ss_family == AF_INET;
  if (local.ss_family == AF_INET6) {
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local;
    v4 = IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr);
  } else if (local.ss_family != AF_INET) {
    return throw_errno(env, "getsockname (not a TCP/IP socket)", EINVAL);
  }

  char text[INET6_ADDRSTRLEN];
  if (v4) {
    struct sockaddr_in dst;
    socklen_t len = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
    inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
    return make_result(env, text, ntohs(dst.sin_port), 4);
  }
  struct sockaddr_in6 dst6;
  socklen_t len6 = sizeof dst6;
  memset(&dst6, 0, sizeof dst6);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst6, &len6) != 0) return throw_errno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
  inet_ntop(AF_INET6, &dst6.sin6_addr, text, sizeof text);
  return make_result(env, text, ntohs(dst6.sin6_port), 6);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "originalDestination", fn) != napi_ok) return NULL;
  return exports;
}
