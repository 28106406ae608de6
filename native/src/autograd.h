#pragma once

#include <napi.h>

namespace dsd {
void registerAutograd(Napi::Env env, Napi::Object exports);
}
