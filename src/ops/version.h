/*
 * version.h - the build's version and commit (E29, build_info, --version).
 */
#ifndef MX_OPS_VERSION_H
#define MX_OPS_VERSION_H

#define MAPLEXP_VERSION "0.2.0"
#ifndef MAPLEXP_COMMIT
#define MAPLEXP_COMMIT "unknown"
#endif

#endif
