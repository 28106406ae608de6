#pragma once

#include <napi.h>

namespace dsd {
void registerDispatch(Napi::Env env, Napi::Object exports);
}
