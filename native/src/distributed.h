#pragma once

#include <napi.h>

namespace dsd {
void registerDistributed(Napi::Env env, Napi::Object exports);
}
