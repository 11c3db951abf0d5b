/*
 * catalog.c: the one table of canonical GPU names and what each provider
 * (and nvidia-smi) calls them.  Fleet files use the canonical names;
 * providers translate through here in both directions.
 *
 * nvsmi is nvidia-smi's "name" with a leading "NVIDIA " removed, matched
 * exactly (so "A10" never matches "A100").
 */
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct gpu_model models[] = {
	{ GPU_CPU,	0,  NULL, NULL, NULL, NULL },
	{ "T4",		16, "Tesla T4", "Tesla T4", NULL, "Tesla T4" },
	{ "V100",	16, "Tesla V100", "Tesla V100-SXM2-16GB", "v100",
	  "Tesla V100-SXM2-16GB" },
	{ "RTX_3090",	24, "RTX 3090", "NVIDIA GeForce RTX 3090", NULL,
	  "GeForce RTX 3090" },
	{ "RTX_4090",	24, "RTX 4090", "NVIDIA GeForce RTX 4090", NULL,
	  "GeForce RTX 4090" },
	{ "RTX_5090",	32, "RTX 5090", "NVIDIA GeForce RTX 5090", NULL,
	  "GeForce RTX 5090" },
	{ "RTX_A6000",	48, "RTX A6000", "NVIDIA RTX A6000", "a6000",
	  "RTX A6000" },
	{ "A10",	24, "A10", "NVIDIA A10", "a10", "A10" },
	{ "A40",	48, "A40", "NVIDIA A40", NULL, "A40" },
	{ "L4",		24, "L4", "NVIDIA L4", NULL, "L4" },
	{ "L40S",	48, "L40S", "NVIDIA L40S", NULL, "L40S" },
	{ "A100_40GB",	40, "A100 SXM4", "NVIDIA A100-SXM4-40GB", "a100",
	  "A100-SXM4-40GB" },
	{ "A100_80GB",	80, "A100 SXM4", "NVIDIA A100-SXM4-80GB",
	  "a100_80gb_sxm4", "A100-SXM4-80GB" },
	{ "A100_80GB_PCIE", 80, "A100 PCIE", "NVIDIA A100 80GB PCIe", NULL,
	  "A100 80GB PCIe" },
	{ "H100_PCIE",	80, "H100 PCIE", "NVIDIA H100 PCIe", "h100_pcie",
	  "H100 PCIe" },
	{ "H100_SXM",	80, "H100 SXM", "NVIDIA H100 80GB HBM3", "h100_sxm5",
	  "H100 80GB HBM3" },
	{ "H100_NVL",	94, "H100 NVL", "NVIDIA H100 NVL", NULL, "H100 NVL" },
	{ "H200",	141, "H200", "NVIDIA H200", NULL, "H200" },
	{ "GH200",	96, "GH200", NULL, "gh200", "GH200 480GB" },
	{ "B200",	180, "B200", "NVIDIA B200", "b200_sxm6", "B200" },
};

size_t
catalog_count(void)
{
	return nitems(models);
}

const struct gpu_model *
catalog_at(size_t i)
{
	return i < nitems(models) ? &models[i] : NULL;
}

const struct gpu_model *
catalog_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(models); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return NULL;
}

const struct gpu_model *
catalog_from_provider(const char *provider, const char *pname)
{
	size_t		 i;
	const char	*n;

	for (i = 0; i < nitems(models); i++) {
		if (strcmp(provider, "vastai") == 0)
			n = models[i].vastai;
		else if (strcmp(provider, "runpod") == 0)
			n = models[i].runpod;
		else if (strcmp(provider, "lambda") == 0)
			n = models[i].lambda;
		else
			n = models[i].name;
		if (n != NULL && strcasecmp(n, pname) == 0)
			return &models[i];
	}
	return NULL;
}

const struct gpu_model *
catalog_from_nvsmi(const char *name)
{
	size_t	 i;

	while (*name == ' ')
		name++;
	if (strncmp(name, "NVIDIA ", 7) == 0)
		name += 7;
	for (i = 0; i < nitems(models); i++)
		if (models[i].nvsmi != NULL &&
		    strcasecmp(models[i].nvsmi, name) == 0)
			return &models[i];
	return NULL;
}
