import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes: runs can be filtered in the Temporal UI by dataset, stage and config. */
export const SA_DATASET = defineSearchAttributeKey('MerDataset', SearchAttributeType.KEYWORD_LIST);
export const SA_STAGE = defineSearchAttributeKey('MerStage', SearchAttributeType.KEYWORD);
export const SA_CONFIG_HASH = defineSearchAttributeKey('MerConfigHash', SearchAttributeType.KEYWORD);
export const SA_PROTOCOL = defineSearchAttributeKey('MerProtocol', SearchAttributeType.KEYWORD);

export const MER_SEARCH_ATTRIBUTES = [SA_DATASET, SA_STAGE, SA_CONFIG_HASH, SA_PROTOCOL];

/** As `temporal server start-dev --search-attribute NAME=TYPE` and `operator search-attribute create` want them. */
export const SEARCH_ATTRIBUTE_FLAGS: Array<[string, string]> = [
  ['MerDataset', 'KeywordList'],
  ['MerStage', 'Keyword'],
  ['MerConfigHash', 'Keyword'],
  ['MerProtocol', 'Keyword'],
];
